/**
 * Benchmark options from flags, else BENCH_* environment variables, else defaults. Parsed with
 * node:util's parseArgs: a handful of numeric flags with env fallbacks do not need commander.
 */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Modes to run (`--only embedded,kafka`); default every implemented mode. */
  only: string[] | null;
  /** Documents for the throughput run (the issue asks for >= 500). */
  docs: number;
  /** Stand-in LLM latency for the throughput run, ms. */
  latencyMs: number;
  concurrency: number;
  /** Throughput runs to do; the median (by utilisation) is reported in full. */
  repeat: number;
  /** Calls of the bare-HTTP-client control in the throughput run (0: skip it). */
  controlCalls: number;
  /**
   * Input sizes of the CPU and peak-RSS runs, ascending. The issue compares 100 with 10 000; a
   * middle size shows whether RSS has reached its plateau (V8 grows the heap during the first
   * second or so of a busy run, so the smallest run finishes before it does).
   */
  memoryDocs: number[];
  /** Stand-in latency for the CPU and peak-RSS runs (0: measure our own cost, not the wait). */
  memoryLatencyMs: number;
  /** Which runs of a mode to do: throughput, memory (the CPU figures come from the memory runs). */
  scenarios: string[];
  /** Kafka mode: partitions of every topic of a run. */
  kafkaPartitions: number;
  /** Kafka mode: documents of the instant-LLM (overhead) run. */
  kafkaOverheadDocs: number;
  /** Kafka mode: ingest at this many documents/s while the workers run (0: all at once). */
  kafkaIngestRate: number;
  /**
   * Kafka mode: `staged` (default) ingests every document first, then starts one stage worker
   * after another, each once the stage before it has committed everything, so each stage runs
   * alone on a full input topic, as a stage scaled on its own pods does; `together` starts all
   * four workers before the ingest, sharing the machine with the broker and the stand-in.
   */
  kafkaLayout: 'staged' | 'together';
  /**
   * Kafka mode: the stand-in's latency in the throughput run, ms (default 1000, about what a
   * model takes for these prompts; `--latency-ms` is the embedded run's).
   */
  kafkaLatencyMs: number;
  /** Kafka mode: the workers' kafka.commitInterval in ms (null: the config default). */
  kafkaCommitIntervalMs: number | null;
  /**
   * Kafka mode, experiment: force the workers' kafkajs consumer maxWaitTimeInMs (null: kafkajs
   * default, 5 s). Patched in by cli-child.ts, not a product setting.
   */
  kafkaFetchMaxWaitMs: number | null;
  /** pyclient mode: QaRecords written to the sink the Python client reads. */
  pyclientRecords: number;
  seed: number;
  outDir: string;
  /** Keep the generated inputs and outputs (in outDir/work) instead of deleting them. */
  keep: boolean;
}

export const USAGE = `npm run bench -- [options]   (every option also reads BENCH_<NAME>, e.g. BENCH_DOCS=1000)
  --only <modes>             comma-separated: embedded, kafka, prefilter, pyclient, export, dedup, ingest, sources, resplog (default all, in that order)
  --docs <n>                 documents in the throughput run (default 1000; >= 500 for the issue's figure)
  --latency-ms <ms>          stand-in LLM latency in the throughput run (default 200)
  --concurrency <n>          --concurrency passed to webscale-rl (default 64; in kafka mode, per worker)
  --repeat <n>               throughput runs; the median one is reported in full (default 1)
  --control-calls <n>        calls of the bare HTTP client control before the throughput run (default 2000; 0 skips)
  --memory-docs <list>       input sizes of the CPU / peak-RSS runs (default 100,1000,10000)
  --memory-latency-ms <ms>   stand-in latency in the CPU / peak-RSS runs (default 0)
  --scenarios <list>         throughput,memory (default both; in kafka mode memory is the instant-LLM overhead run)
  --kafka-partitions <n>     kafka: partitions of every topic of a run (default 12, as topics/*.yaml)
  --kafka-overhead-docs <n>  kafka: documents of the instant-LLM overhead run (default 3000)
  --kafka-ingest-rate <n>    kafka: feed the throughput run's documents at n/s while it runs (default 0: all at once)
  --kafka-layout <l>         kafka: staged (default: ingest everything, then run the stages one after another, each alone
                             on the machine) or together (all four workers at once, sharing it with the broker and the stand-in)
  --kafka-latency-ms <ms>    kafka: stand-in LLM latency in the throughput run (default 1000)
  --kafka-commit-interval-ms <ms>  kafka: the workers' kafka.commitInterval (default: config default, 1 s)
  --kafka-fetch-max-wait-ms <ms>   kafka experiment: patch the workers' kafkajs consumer maxWaitTimeInMs (default: kafkajs's 5 s)
  --pyclient-records <n>     pyclient: QaRecords the Python client reads (default 20000)
  --seed <n>                 corpus seed (default 1)
  --out <dir>                where the JSON results go (default bench-results)
  --keep                     keep generated inputs and outputs under <out>/work`;

function num(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function list(raw: string | undefined): string[] | null {
  if (raw === undefined || raw.trim() === '') return null;
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function memoryDocs(raw: string | undefined): number[] {
  const sizes = (list(raw) ?? ['100', '1000', '10000']).map((x) => num('--memory-docs', x, 0, 1));
  if (sizes.length < 2) throw new Error('--memory-docs needs at least two sizes to compare');
  return [...new Set(sizes)].sort((a, b) => a - b);
}

function optionalMs(name: string, raw: string | undefined): number | null {
  return raw === undefined || raw === '' ? null : num(name, raw, 0, 1);
}

export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      docs: { type: 'string' },
      'latency-ms': { type: 'string' },
      concurrency: { type: 'string' },
      repeat: { type: 'string' },
      'control-calls': { type: 'string' },
      'memory-docs': { type: 'string' },
      'memory-latency-ms': { type: 'string' },
      scenarios: { type: 'string' },
      'kafka-partitions': { type: 'string' },
      'pyclient-records': { type: 'string' },
      'kafka-overhead-docs': { type: 'string' },
      'kafka-ingest-rate': { type: 'string' },
      'kafka-commit-interval-ms': { type: 'string' },
      'kafka-layout': { type: 'string' },
      'kafka-latency-ms': { type: 'string' },
      'kafka-fetch-max-wait-ms': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const pick = (flag: string | undefined, envName: string): string | undefined => flag ?? env[envName];
  const scenarios = list(pick(values.scenarios, 'BENCH_SCENARIOS')) ?? ['throughput', 'memory'];
  for (const s of scenarios) if (s !== 'throughput' && s !== 'memory') throw new Error(`unknown scenario ${JSON.stringify(s)}; expected throughput or memory`);
  const keepEnv = env['BENCH_KEEP'];
  const layout = pick(values['kafka-layout'], 'BENCH_KAFKA_LAYOUT') ?? 'staged';
  if (layout !== 'staged' && layout !== 'together') throw new Error(`unknown --kafka-layout ${JSON.stringify(layout)}; expected staged or together`);
  return {
    only: list(pick(values.only, 'BENCH_ONLY')),
    docs: num('--docs', pick(values.docs, 'BENCH_DOCS'), 1000, 1),
    latencyMs: num('--latency-ms', pick(values['latency-ms'], 'BENCH_LATENCY_MS'), 200, 0),
    concurrency: num('--concurrency', pick(values.concurrency, 'BENCH_CONCURRENCY'), 64, 1),
    repeat: num('--repeat', pick(values.repeat, 'BENCH_REPEAT'), 1, 1),
    controlCalls: num('--control-calls', pick(values['control-calls'], 'BENCH_CONTROL_CALLS'), 2000, 0),
    memoryDocs: memoryDocs(pick(values['memory-docs'], 'BENCH_MEMORY_DOCS')),
    memoryLatencyMs: num('--memory-latency-ms', pick(values['memory-latency-ms'], 'BENCH_MEMORY_LATENCY_MS'), 0, 0),
    scenarios,
    kafkaPartitions: num('--kafka-partitions', pick(values['kafka-partitions'], 'BENCH_KAFKA_PARTITIONS'), 12, 1),
    kafkaOverheadDocs: num('--kafka-overhead-docs', pick(values['kafka-overhead-docs'], 'BENCH_KAFKA_OVERHEAD_DOCS'), 3000, 1),
    kafkaIngestRate: num('--kafka-ingest-rate', pick(values['kafka-ingest-rate'], 'BENCH_KAFKA_INGEST_RATE'), 0, 0),
    kafkaLayout: layout,
    kafkaLatencyMs: num('--kafka-latency-ms', pick(values['kafka-latency-ms'], 'BENCH_KAFKA_LATENCY_MS'), 1000, 0),
    kafkaCommitIntervalMs: optionalMs('--kafka-commit-interval-ms', pick(values['kafka-commit-interval-ms'], 'BENCH_KAFKA_COMMIT_INTERVAL_MS')),
    pyclientRecords: num('--pyclient-records', pick(values['pyclient-records'], 'BENCH_PYCLIENT_RECORDS'), 20000, 1),
    kafkaFetchMaxWaitMs: optionalMs('--kafka-fetch-max-wait-ms', pick(values['kafka-fetch-max-wait-ms'], 'BENCH_KAFKA_FETCH_MAX_WAIT_MS')),
    seed: num('--seed', pick(values.seed, 'BENCH_SEED'), 1, 0),
    outDir: pick(values.out, 'BENCH_OUT') ?? 'bench-results',
    keep: values.keep === true || keepEnv === '1' || keepEnv === 'true',
  };
}
