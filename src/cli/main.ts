#!/usr/bin/env node
/**
 * The `webscale-rl` command line. Each command lives in its own module; this file only declares
 * the commands and their flags and turns errors into one clear line and an exit code:
 * 0 done, 1 runtime failure, 2 unusable configuration or flags, or an LLM that cannot serve
 * (found by the start-up probe before any input is read); `run` adds 3 (too many documents ended
 * in llm.failed) and 130 (interrupted).
 */
import { Command } from 'commander';
import { WebscaleError } from '../core/errors.js';
import { redactString } from '../core/redact.js';
import { explainKafkaError } from '../kafka/index.js';
import { PIPELINE_VERSION } from '../stages/paths.js';
import { exportCommand, ingestCommand, stageCommand, tailCommand, type ExportFlags, type StageFlags, type TailFlags } from './kafka-commands.js';
import { dlqReplayCommand, dlqStatsCommand, type DlqReplayFlags, type DlqStatsFlags } from './dlq-commands.js';
import { bridgeCommand, followCommand, ingestMode, type IngestFlags } from './ingest-commands.js';
import { addInputOptions, addKafkaOptions, addLlmOptions, addProgressOption, nonNegativeInt, positiveInt } from './options.js';
import { topicsApplyCommand, type TopicsApplyFlags } from './topics-command.js';
import { runCommand, type RunFlags } from './run.js';
import { reportCommand, type ReportFlags } from './report-command.js';

function exitCodeFor(err: WebscaleError): number {
  switch (err.code) {
    case 'CONFIG_INVALID':
    case 'USAGE':
      return 2;
    // LLM errors reach this point only from the start-up probe (mid-run they become rejections):
    // the LLM cannot serve as configured, which no amount of waiting fixes.
    case 'LLM_UNREACHABLE':
    case 'LLM_AUTH':
    case 'LLM_QUOTA':
    case 'LLM_UNAVAILABLE':
    case 'LLM_CLIENT':
      return 2;
    case 'LLM_ABORTED':
    case 'INTERRUPTED':
      return 130;
    default:
      return 1;
  }
}

/**
 * Every missing required flag named in one error (commander's own check stops at the first, so a
 * user fixes one flag, runs again and meets the next).
 */
export function requireFlags(flags: object, required: Record<string, string>): void {
  const values = flags as Record<string, unknown>;
  const missing = Object.entries(required)
    .filter(([key]) => values[key] === undefined || values[key] === '')
    .map(([, flag]) => flag);
  if (missing.length > 0) {
    throw new WebscaleError('USAGE', `missing required ${missing.length === 1 ? 'option' : 'options'} ${missing.join(' and ')}`);
  }
}

const RUN_EXIT_CODES = `
Before reading any input, run sends one small request per stage to its LLM; an LLM that cannot
serve (no model file, no URL, 401/403, 404/405/501, unknown model, nothing listening) stops it.

Exit codes:
  0    run completed (rejections are normal)
  1    runtime failure (e.g. an output file cannot be written)
  2    unusable flags or configuration, or an LLM that cannot serve; nothing is written
  3    more than pipeline.maxLlmFailedShare (default 0.5) of the documents ended in llm.failed;
       outputs and summary are written all the same
  130  interrupted (Ctrl-C)`;

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('webscale-rl')
    .description('Turn pretraining documents into verifiable RL question-answer pairs (the Webscale-RL method).')
    .version(PIPELINE_VERSION, '-V, --version', 'print the version of webscale-rl')
    .showHelpAfterError(false)
    .exitOverride();

  let code = 0;
  addLlmOptions(
    addInputOptions(addProgressOption(program
      .command('run')
      .description('run the whole pipeline in one process, without Kafka')
      .option('--input <path|->', '(required) a file or folder of JSON lines (.jsonl[.gz|.zst]), WARC/WET (.warc[.gz], .warc.wet.gz), HTML, parquet or plain text; - for JSON lines on stdin')
      .option('--output <file|->', '(required) QA records as JSON lines, or as parquet when the name ends in .parquet; - for stdout')
      .option('--rejections <file>', 'rejections as JSON lines (default: <output>.rejections.jsonl; with --output - none are written unless named here)')
      .option('--summary <file>', 'also write the run summary as JSON')
      .option('--no-progress', 'no progress at all: neither the line redrawn on a terminal nor the periodic lines otherwise')
      .option('--batch', 'send the LLM calls through the OpenAI Batch API (half price, results within 24 h; config llm.batch)')
      .option('--batch-state <file>', 'with --batch: where the batch ids are kept across restarts (default <output>.batches.jsonl)')
      .option('--resume', 'continue the interrupted run of these outputs: finished documents are kept, the rest is processed and appended')
      .option('--response-log <file>', 'LLM response log (default: <output>.responses.mdb; config llm.responseLog.path)')
      .option('--no-response-log', 'neither read nor record LLM responses')
      .addHelpText('after', RUN_EXIT_CODES))),
  ).action(async (flags: RunFlags) => {
    requireFlags(flags, { input: '--input', output: '--output' });
    code = await runCommand(flags);
  });

  const stageCmd = addKafkaOptions(
    addLlmOptions(
      program
        .command('stage')
        .description('run one stage as a member of consumer group <prefix><stage>')
        .argument('<stage>', 'dedup | filter | identify | generate | check')
        .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port', (v) => Number(v))
        .option('--instance-id <id>', 'name of this worker in logs (fencing is per partition, not per instance); env WEBSCALE_INSTANCE_ID')
        .option('--batch', 'generate and check: call the LLM through the OpenAI Batch API; batch ids kept in <prefix>llm.batches (config llm.batch)'),
    ),
  );
  addProgressOption(stageCmd).action(async (stage: string, flags: StageFlags) => {
    code = await stageCommand(stage, flags);
    exitWhenDone = true;
  });

  const topics = program.command('topics').description('manage the Kafka topics of the pipeline');
  addKafkaOptions(
    topics
      .command('apply')
      .description('create missing topics from topics/*.yaml and report drift; never deletes or shrinks anything')
      .option('--allow-partition-increase', 'add partitions to topics that have fewer than the spec (moves keys)')
      .option('--partitions <n>', 'partition count for every topic instead of the spec (development clusters)', positiveInt)
      .option('--replication-factor <n|auto>', 'replication factor for every topic; auto = spec capped at live brokers', 'auto')
      .option('--strict', 'exit 3 when drift remains')
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'),
  ).action(async (flags: TopicsApplyFlags) => {
    code = await topicsApplyCommand(flags);
  });

  addKafkaOptions(
    addProgressOption(addInputOptions(program
      .command('ingest')
      .description('send documents into the raw topic: files or folders read as by run --input (- for JSON lines on stdin); or bridge a crawler\'s topic (--from-topic), or follow a folder (--follow)')
      .argument('[files...]', 'input files or folders; none or - reads JSON lines from stdin')
      .option('--from-topic <name>', 'crawl bridge: read documents a crawler publishes to this topic into docs.raw, exactly once, until stopped')
      .option('--format <json|warc>', 'with --from-topic: each message is a JSON object {"text", "id"?, "url"?, "source"?, "crawl_date"?, "language"?} or one WARC record (default json)')
      .option('--group <id>', 'with --from-topic: consumer group (default <prefix>ingest-bridge; config ingest.bridgeGroup)')
      .option('--follow <dir>', 'read each file a crawler closes in this folder, exactly once across restarts, until stopped')
      .option('--metrics-port <port>', 'with --from-topic or --follow: serve /metrics, /healthz and /readyz on this port', (v) => Number(v))
      .option('--instance-id <id>', 'with --from-topic: name of this bridge in logs; env WEBSCALE_INSTANCE_ID')
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'))),
  ).action(async (files: string[], flags: IngestFlags) => {
    const mode = ingestMode(files, flags);
    if (mode === 'files') {
      code = await ingestCommand(files, flags);
      return;
    }
    code = mode === 'bridge' ? await bridgeCommand(flags) : await followCommand(flags.follow ?? '', flags);
    exitWhenDone = true;
  });

  addKafkaOptions(
    program
      .command('export')
      .description('write a topic (default: the qa.verified sink) read_committed, up to its end at start: the sink in a trainer format, other topics as JSON lines')
      .requiredOption('--output <file|->', 'output file (.parquet: parquet; .jsonl/.json/.ndjson or -: JSON lines)')
      .option('--topic <suffix>', 'topic suffix, e.g. qa.verified, rejections, dlq', 'qa.verified')
      .option('--format <format>', 'jsonl | parquet (QA records) | verl | trl (parquet rows) | openrlhf (JSON lines); default from --output')
      .option('--domain <domain...>', 'only these domains, e.g. Math "Natural Science"')
      .option('--language <code...>', 'only these source languages (ISO 639-1, provenance.language), e.g. en de')
      .option('--since <time>', 'only records created at or after an ISO time (2026-11-29T00:00:00Z) or a duration ago (30m, 24h, 7d)')
      .option('--row-group-rows <n>', 'rows per parquet row group (config export.rowGroupRows, default 10000)', positiveInt)
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'),
  ).action(async (flags: ExportFlags) => {
    code = await exportCommand(flags);
  });

  addKafkaOptions(
    program
      .command('tail')
      .description('follow a topic and print its records as JSON lines')
      .argument('<suffix>', 'topic suffix, e.g. qa.verified, rejections, dlq, docs.raw')
      .option('--from-beginning', 'start at the beginning of the topic')
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'),
  ).action(async (suffix: string, flags: TailFlags) => {
    code = await tailCommand(suffix, flags);
    exitWhenDone = true;
  });
  addKafkaOptions(
    program
      .command('report')
      .description('the error analysis of a run, printed and written as one self-contained HTML page: rejections by stage and reason with examples, domain and persona mix, verification rate, tokens and cost per kept pair, slowest stages')
      .argument('[run-folder|topic-prefix]', 'a folder run wrote into (<name>.rejections.jsonl, <name>.jsonl, summary.json), or a Kafka topic prefix (e.g. webscale-rl.) whose rejections and qa.verified topics are read to their end; none: the --topic-prefix one')
      .option('--html <file>', 'write the page here (default for a run folder: <folder>/report.html; for Kafka: not written unless named)')
      .option('--prices <file>', 'JSON prices per model, USD per million tokens: {"<model>": {"input": 0.15, "output": 0.6}, "*": {...}}; without it cost is unknown and tokens are shown')
      .option('--examples <n>', 'examples kept per rejection reason (default 3)', positiveInt)
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'),
  ).action(async (target: string | undefined, flags: ReportFlags) => {
    code = await reportCommand(target, flags);
  });
  const dlq = program.command('dlq').description('the dead-letter queue: count dead letters, put them back into the pipeline');
  addKafkaOptions(
    dlq
      .command('stats')
      .description('count dead letters by stage and reason: how many, how many not yet replayed, their age range')
      .option('--json', 'one JSON object instead of the table')
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'),
  ).action(async (flags: DlqStatsFlags) => {
    code = await dlqStatsCommand(flags);
  });
  addKafkaOptions(
    dlq
      .command('replay')
      .description('re-publish dead letters to the topics they came from, exactly once, and record them in <prefix>dlq.replayed; a second replay skips what is recorded')
      .option('--reason <code...>', 'only dead letters with these error codes, e.g. LLM_CLIENT CODEC (see dlq stats)')
      .option('--stage <stage...>', 'only dead letters of these stages, e.g. check')
      .option('--since <time>', 'only dead letters created at or after an ISO time (2026-11-29T00:00:00Z) or a duration ago (30m, 24h, 7d)')
      .option('--max-replays <n>', 'hold back dead letters whose record was replayed this many times already (config dlq.maxReplays, default 3)', nonNegativeInt)
      .option('--dry-run', 'print what would be replayed; change nothing')
      .option('--json', 'one JSON object instead of the table')
      .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
      .option('--log-level <level>', 'log level'),
  ).action(async (flags: DlqReplayFlags) => {
    code = await dlqReplayCommand(flags);
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed its message (help, version or a bad flag)
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
    }
    // A Kafka login, certificate or ACL failure says which, and what to do, in its one line.
    const we = explainKafkaError(err) ?? WebscaleError.from(err);
    process.stderr.write(`webscale-rl: ${redactString(we.message)}\n`);
    return exitCodeFor(we);
  }
  return code;
}

/**
 * Long-running commands (stage, tail) may leave kafkajs timers behind after a clean stop: they
 * must not keep the process alive once the command has finished. Commands that write data to
 * stdout are left to exit on their own, so nothing still buffered for a slow reader is cut.
 */
let exitWhenDone = false;

/**
 * Ctrl-C (or SIGTERM) before a command has its own handler installed, e.g. while it loads its
 * config or waits for a broker: a clean exit with the conventional code, not a stack trace from a
 * half-built client. Once a command installs its own handler (run, stage, the bridge: they drain
 * work in flight), this one steps aside.
 */
function exitEarlyOnSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  process.stderr.write(`webscale-rl: interrupted (${signal}) during start-up\n`);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}
process.on('SIGINT', exitEarlyOnSignal);
process.on('SIGTERM', exitEarlyOnSignal);

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    if (exitWhenDone) setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`webscale-rl: ${redactString(String(err))}\n`);
    process.exitCode = 1;
  },
);
