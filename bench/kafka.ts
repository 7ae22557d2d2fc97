/**
 * Benchmark of the Kafka mode: four `webscale-rl stage` worker processes (filter, identify,
 * generate, check), each its own consumer group with its own `--concurrency` cap, on the broker
 * from `npm run kafka:start`, fed by `webscale-rl ingest` and checked with `webscale-rl export`.
 * Each run uses a fresh topic prefix and deletes its topics and groups at the end.
 *
 * - throughput: the stand-in LLM at 1,000 ms a call (`--kafka-latency-ms`; its own process, one
 *   port per stage so each stage's calls and in-flight timeline are measured apart). By default
 *   (`--kafka-layout staged`) every document is ingested first and the stages run one after
 *   another, each alone on the machine, as stages scaled on their own pods run; `together` starts
 *   the four workers at once on the machine the broker and the stand-in also use, where on 2
 *   cores CPU, not the worker, sets the pace at short latencies. LLM utilisation PER STAGE =
 *   calls x latency / (stage active wall x C), where the stage's active wall runs from its first
 *   LLM request received at the stand-in to its last reply sent: stages of a pipeline start and
 *   end at different times, and a stage cannot call the LLM before its input exists. The figure
 *   from the workers' own /metrics (sum of request durations) is shown beside it. Polling the
 *   workers' /metrics gives the evidence for lost utilisation: how long each stage held fewer
 *   records than slots while its input topic had nothing committed left to read (starved by the
 *   stage upstream) or while it had (the worker not fetching fast enough).
 * - memory (overhead): an instant LLM and more documents: documents per second through the
 *   whole pipeline on this machine, broker included, CPU per document of every process, and
 *   each worker's peak RSS.
 *
 * Every run is checked against the corpus: the sink must hold exactly the QA records it implies
 * (2 per passing document), each once, with an empty dead-letter topic; else the run is flagged
 * INVALID in the report and the JSON.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LLM_STAGES, type LlmStage } from '../src/core/records.js';
import { loadTopicSpecs } from '../src/topics/index.js';
import { createTestTopics, deletePrefix, ensureBroker, brokers } from '../test/support/kafka.js';
import { expectedCalls, writeCorpus, type CorpusFacts } from './corpus.js';
import { fixed, int, machineFacts, mb, ms, pct, row } from './format.js';
import { brokerPid, cliEnv, freePort, processCpuMs, processMemKb, runCliCommand, startWorker, waitReady, type WorkerProcess } from './kafka-cluster.js';
import { startLlmProcess } from './llm-process.js';
import type { ServerStatsMessage } from './llm-server.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';
import { histogramQuantile, scrape, total, type Sample } from './prom.js';
import { analyseTimeline, type TimelineAnalysis } from './timeline.js';
import type { ChildProbe } from './cli-child.js';

/** The brief's goal for per-stage LLM utilisation in the Kafka throughput run. */
export const KAFKA_UTILISATION_GOAL = 0.9;
const PERSONAS = 2;
const POLL_MS = 200;
/** A run with no counter moving for this long is given up as stuck. */
const STALL_MS = 90_000;
const M = 'webscale_rl_';

interface StageSnap {
  calls: number;
  llmSeconds: number;
  consumed: number;
  /** Committed outputs, by topic suffix (the counter moves after the transaction commits). */
  produced: Record<string, number>;
  inFlight: number;
  rssBytes: number;
  cpuSeconds: number;
}

interface Poll {
  /** ms since the ingest started. */
  t: number;
  stages: Partial<Record<LlmStage, StageSnap>>;
}

const INPUT_OF: Record<LlmStage, string> = { filter: 'docs.raw', identify: 'docs.filtered', generate: 'qa.tasks', check: 'qa.candidates' };
const UPSTREAM: Record<LlmStage, LlmStage | null> = { filter: null, identify: 'filter', generate: 'identify', check: 'generate' };

function snap(samples: readonly Sample[], prefix: string): StageSnap {
  const produced: Record<string, number> = {};
  for (const suffix of ['docs.filtered', 'qa.tasks', 'qa.candidates', 'qa.verified', 'rejections', 'dlq']) {
    produced[suffix] = total(samples, `${M}records_produced_total`, { topic: `${prefix}${suffix}` });
  }
  return {
    calls: total(samples, `${M}llm_request_duration_seconds_count`),
    llmSeconds: total(samples, `${M}llm_request_duration_seconds_sum`),
    consumed: total(samples, `${M}records_consumed_total`),
    produced,
    inFlight: total(samples, `${M}in_flight_records`),
    rssBytes: total(samples, 'process_resident_memory_bytes'),
    cpuSeconds: total(samples, 'process_cpu_seconds_total'),
  };
}

/** What the corpus implies for each stage (the stand-in answers every stage, every check passes). */
export interface StageExpectation {
  consumed: number;
  calls: number;
  /** Committed outputs of all kinds (next topic + rejections). */
  produced: number;
}

export function stageExpectations(facts: CorpusFacts, personas = PERSONAS): Record<LlmStage, StageExpectation> {
  const pass = facts.byKind.pass;
  const qa = pass * personas;
  return {
    filter: { consumed: facts.documents, calls: pass + facts.byKind.unqualified, produced: facts.documents },
    identify: { consumed: pass, calls: pass, produced: qa },
    generate: { consumed: qa, calls: qa, produced: qa },
    check: { consumed: qa, calls: qa, produced: qa },
  };
}

interface CommitStats {
  /** Successful commit transactions over the whole run. */
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Transactions per second over the stage's active window. */
  per_s: number | null;
  fenced: number;
}

function commitStats(samples: readonly Sample[] | null, activeMs: number | null): CommitStats | null {
  if (samples === null) return null;
  const name = `${M}commit_duration_seconds`;
  const count = total(samples, `${name}_count`, { outcome: 'ok' });
  const q = (x: number): number | null => {
    const v = histogramQuantile(samples, name, x, { outcome: 'ok' });
    return v === null ? null : v * 1000;
  };
  return {
    count,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    per_s: activeMs !== null && activeMs > 0 ? (count * 1000) / activeMs : null,
    fenced: total(samples, `${M}partitions_fenced_total`),
  };
}

interface KafkaRunOptions {
  name: string;
  docs: number;
  latencyMs: number;
  concurrency: number;
  partitions: number;
  ingestRate: number;
  commitIntervalMs: number | null;
  fetchMaxWaitMs: number | null;
  /** Ingest everything, then start the stages one at a time (BenchOptions.kafkaLayout `staged`). */
  staged: boolean;
}

interface StageResult {
  stage: LlmStage;
  pid: number;
  calls_stand_in: number;
  calls_metrics: number;
  llm_seconds_metrics: number;
  /** First LLM request to last reply at the stand-in (latency > 0), else first to last counter move seen by polling. */
  active_ms: number | null;
  /** ms after the ingest started. */
  first_call_at_ms: number | null;
  last_call_at_ms: number | null;
  utilisation: number | null;
  utilisation_metrics: number | null;
  timeline: TimelineAnalysis | null;
  /** Share of the active window (polled) by state of the worker's records in flight. */
  states: { full: number; starved_upstream: number; starved_fetch: number; polls: number } | null;
  consumed: number;
  produced: Record<string, number>;
  cpu_ms_during_run: number | null;
  peak_rss_polled_kb: number | null;
  /** Commit transactions (one per input partition with finished work, per commit interval). */
  commits: CommitStats | null;
  probe: ChildProbe | null;
  vm_hwm_at_end_kb: number | null;
  exit_code: number | null;
}

interface KafkaRun {
  options: KafkaRunOptions;
  prefix: string;
  corpus: CorpusFacts;
  expected: Record<LlmStage, StageExpectation>;
  expectedQa: number;
  ingestWallMs: number;
  /** Ingest start to the poll that saw the sink complete. */
  e2eMs: number | null;
  /** Ingest start to the poll that saw every stage's outputs committed. */
  allDoneMs: number | null;
  firstLlmCallMs: number | null;
  stages: StageResult[];
  sink: { records: number; unique: number; rejections: number; dlq: number };
  standIn: { cpuMs: number; maxInFlight: number };
  brokerCpuMs: number | null;
  problems: string[];
  polls: Poll[];
}

async function exportCount(env: NodeJS.ProcessEnv, topic: string, out: string): Promise<{ count: number; unique: number }> {
  const res = await runCliCommand(['export', '--topic', topic, '--output', out], env);
  if (res.code !== 0) throw new Error(`export ${topic} exited with ${res.code}: ${res.stderr}`);
  const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l !== '');
  const ids = new Set(lines.map((l) => String((JSON.parse(l) as { id?: unknown; doc_id?: unknown }).id ?? l)));
  return { count: lines.length, unique: ids.size };
}

/** Share of polls in the stage's active window by state: the evidence for where slot-time went. */
function stageStates(polls: readonly Poll[], stage: LlmStage, from: number, to: number, concurrency: number, docs: number): StageResult['states'] {
  let full = 0;
  let upstream = 0;
  let fetch = 0;
  let n = 0;
  const up = UPSTREAM[stage];
  for (const p of polls) {
    if (p.t < from || p.t > to) continue;
    const s = p.stages[stage];
    if (s === undefined) continue;
    // Committed records in the input topic this worker has not taken yet (ingest is all there
    // for the filter once it has finished; approximated as the whole corpus).
    const available = up === null ? docs - s.consumed : (p.stages[up]?.produced[INPUT_OF[stage]] ?? 0) - s.consumed;
    n++;
    if (s.inFlight >= concurrency) full++;
    else if (available <= 0) upstream++;
    else fetch++;
  }
  return n === 0 ? null : { full: full / n, starved_upstream: upstream / n, starved_fetch: fetch / n, polls: n };
}

async function kafkaRun(ctx: BenchContext, o: KafkaRunOptions): Promise<KafkaRun> {
  const dir = join(ctx.workDir, o.name);
  await mkdir(dir, { recursive: true });
  const input = join(dir, `corpus-${o.docs}.jsonl`);
  ctx.progress(`${o.name}: writing ${o.docs} documents`);
  const corpus = await writeCorpus(input, o.docs, ctx.options.seed);
  const expected = stageExpectations(corpus);
  const expectedQa = corpus.byKind.pass * PERSONAS;
  if (expectedCalls(corpus, PERSONAS) !== LLM_STAGES.reduce((n, s) => n + expected[s].calls, 0)) throw new Error('stage expectations disagree with expectedCalls');

  await ensureBroker();
  const prefix = `bench.${Date.now().toString(36)}.${o.name}.`;
  const llm = await startLlmProcess(o.latencyMs, LLM_STAGES.length);
  const workers: WorkerProcess[] = [];
  try {
    ctx.progress(`${o.name}: topics under ${prefix} (${o.partitions} partitions each)`);
    await createTestTopics(prefix, loadTopicSpecs(), { partitions: o.partitions });
    const baseEnv = {
      KAFKA_BROKERS: brokers().join(','),
      WEBSCALE_TOPIC_PREFIX: prefix,
      WEBSCALE_LLM_MODEL: 'stand-in-model',
      WEBSCALE_LOG_LEVEL: 'warn',
      // The four LLM stages are measured here; the dedup stage has its own bench (`--only dedup`).
      // With dedup on, the filter would wait on docs.unique for a dedup worker this bench does not start.
      WEBSCALE_DEDUP_ENABLED: 'false',
      // A config file for experiments (e.g. a feature turned off) reaches the workers too.
      ...(process.env['WEBSCALE_CONFIG'] ? { WEBSCALE_CONFIG: process.env['WEBSCALE_CONFIG'] } : {}),
    };
    const extraArgs: string[] = [];
    if (o.commitIntervalMs !== null) {
      const configPath = join(dir, 'config.yaml');
      await writeFile(configPath, `kafka:\n  commitInterval: ${o.commitIntervalMs}\n`);
      extraArgs.push('--config', configPath);
    }
    const cpuBefore = new Map<LlmStage, number>();
    const startStage = async (i: number, stage: LlmStage): Promise<WorkerProcess> => {
      const url = llm.urls[i];
      if (url === undefined) throw new Error('stand-in has fewer servers than stages');
      const w = startWorker({
        stage,
        port: await freePort(),
        args: ['--concurrency', String(o.concurrency), '--instance-id', `bench-${stage}`, ...extraArgs],
        env: cliEnv({ ...baseEnv, WEBSCALE_LLM_URL: url, ...(o.fetchMaxWaitMs === null ? {} : { BENCH_KAFKA_MAX_WAIT_MS: String(o.fetchMaxWaitMs) }) }),
        probePath: join(dir, `probe-${stage}.json`),
      });
      workers.push(w);
      return w;
    };
    const cpuOf = async (w: WorkerProcess): Promise<void> => {
      const s = await scrape(w.port);
      cpuBefore.set(w.stage as LlmStage, s === null ? 0 : total(s, 'process_cpu_seconds_total'));
    };
    /** Staged runs: the next stage's worker, once it is ready (the stand-in does not count start-up probes). */
    const startNext = async (): Promise<void> => {
      const i = workers.length;
      const stage = LLM_STAGES[i];
      if (stage === undefined) return;
      ctx.progress(`${o.name}: starting the ${stage} worker alone (--concurrency ${o.concurrency}, LLM ${o.latencyMs} ms)`);
      const w = await startStage(i, stage);
      await waitReady(w);
      await cpuOf(w);
    };
    if (!o.staged) {
      for (const [i, stage] of LLM_STAGES.entries()) await startStage(i, stage);
      ctx.progress(`${o.name}: starting 4 workers (--concurrency ${o.concurrency}, LLM ${o.latencyMs} ms)`);
      await Promise.all(workers.map((w) => waitReady(w)));
    }

    await llm.reset();
    const standInBefore = await llm.stats();
    const bPid = await brokerPid();
    const brokerBefore = bPid === null ? null : processCpuMs(bPid);
    for (const w of workers) await cpuOf(w);

    ctx.progress(`${o.name}: ingest ${o.docs} documents${o.ingestRate > 0 ? ` at ${o.ingestRate}/s` : ' at once'}; waiting for ${int(expectedQa)} QA records in the sink`);
    const env = cliEnv(baseEnv);
    const t0 = Date.now();
    const feed = o.ingestRate > 0 ? { lines: (await readFile(input, 'utf8')).split('\n').filter((l) => l !== ''), linesPerSecond: o.ingestRate } : undefined;
    const ingest = runCliCommand(['ingest', feed ? '-' : input], env, feed);
    let ingestDone: Awaited<typeof ingest> | null = null;
    void ingest.then((r) => (ingestDone = r));
    if (o.staged) {
      await ingest;
      await startNext();
    }

    const polls: Poll[] = [];
    let e2eMs: number | null = null;
    let allDoneMs: number | null = null;
    let lastChange = Date.now();
    let lastKey = '';
    const peakRss = new Map<LlmStage, number>();
    for (;;) {
      const tPoll = Date.now() - t0;
      const scraped = await Promise.all(workers.map((w) => scrape(w.port)));
      const poll: Poll = { t: tPoll, stages: {} };
      scraped.forEach((s, i) => {
        const stage = LLM_STAGES[i];
        if (s === null || stage === undefined) return;
        const st = snap(s, prefix);
        poll.stages[stage] = st;
        peakRss.set(stage, Math.max(peakRss.get(stage) ?? 0, st.rssBytes));
      });
      polls.push(poll);
      const check = poll.stages.check;
      if (e2eMs === null && check !== undefined && (check.produced['qa.verified'] ?? 0) >= expectedQa) e2eMs = tPoll;
      const stageDone = (s: LlmStage): boolean => {
        const st = poll.stages[s];
        if (st === undefined) return false;
        const producedAll = Object.values(st.produced).reduce((a, b) => a + b, 0);
        return producedAll >= expected[s].produced && st.calls >= expected[s].calls && st.inFlight === 0;
      };
      if (LLM_STAGES.every(stageDone) && e2eMs !== null) {
        allDoneMs = tPoll;
        break;
      }
      const current = LLM_STAGES[workers.length - 1];
      if (o.staged && current !== undefined && workers.length < LLM_STAGES.length && stageDone(current)) {
        await startNext();
        lastChange = Date.now();
      }
      const key = JSON.stringify(LLM_STAGES.map((s) => [poll.stages[s]?.calls, poll.stages[s]?.consumed, poll.stages[s]?.produced]));
      if (key !== lastKey) {
        lastKey = key;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > STALL_MS) {
        ctx.progress(`${o.name}: no progress for ${STALL_MS / 1000} s; giving up`);
        break;
      }
      const dead = workers.find((w) => w.proc.exitCode !== null);
      if (dead) {
        ctx.progress(`${o.name}: ${dead.stage} worker exited with ${dead.proc.exitCode}`);
        break;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, POLL_MS - (Date.now() - t0 - tPoll))));
    }
    const ingestResult = ingestDone ?? (await ingest);
    if (ingestResult.code !== 0) throw new Error(`ingest exited with ${ingestResult.code}: ${ingestResult.stderr}`);

    const server: ServerStatsMessage = await llm.stats();
    const brokerAfter = bPid === null ? null : processCpuMs(bPid);
    const cpuAfter = new Map<LlmStage, number>();
    const hwm = new Map<LlmStage, number | null>();
    const finalSamples = new Map<LlmStage, Sample[] | null>();
    for (const w of workers) {
      const s = await scrape(w.port);
      finalSamples.set(w.stage as LlmStage, s);
      cpuAfter.set(w.stage as LlmStage, s === null ? NaN : total(s, 'process_cpu_seconds_total'));
      hwm.set(w.stage as LlmStage, processMemKb(w.pid)?.hwm ?? null);
    }
    ctx.progress(`${o.name}: stopping workers, exporting the sink`);
    const exitCodes = await Promise.all(workers.map((w) => w.stop()));
    const probes = await Promise.all(workers.map((w) => w.probe()));

    const sinkCount = await exportCount(env, 'qa.verified', join(dir, 'sink.jsonl'));
    const rejections = await exportCount(env, 'rejections', join(dir, 'rejections.jsonl'));
    const dlq = await exportCount(env, 'dlq', join(dir, 'dlq.jsonl'));

    // The stand-in's sample clock, moved onto the ingest clock.
    const offset = server.startedEpochMs - t0;
    const last = polls[polls.length - 1];
    const stages: StageResult[] = LLM_STAGES.map((stage, i) => {
      const share = server.servers[i];
      const final = last?.stages[stage];
      const timeline = o.latencyMs > 0 && share !== undefined ? analyseTimeline(share.samples, o.concurrency) : null;
      let first: number | null;
      let lastCall: number | null;
      if (timeline !== null && share !== undefined) {
        const firstBusy = share.samples.find((x) => x.inFlight > 0);
        first = firstBusy === undefined ? null : firstBusy.t + offset;
        lastCall = first === null ? null : first + timeline.activeMs;
      } else {
        // Instant LLM: the stand-in never sees a call in flight; use the polled counters.
        const withCalls = polls.filter((p) => (p.stages[stage]?.calls ?? 0) > 0);
        const finalCalls = final?.calls ?? 0;
        first = withCalls[0]?.t ?? null;
        lastCall = polls.find((p) => (p.stages[stage]?.calls ?? 0) >= finalCalls && finalCalls > 0)?.t ?? null;
      }
      const activeMs = first !== null && lastCall !== null ? lastCall - first : null;
      const calls = share?.total ?? 0;
      const slotMs = activeMs !== null && activeMs > 0 ? activeMs * o.concurrency : null;
      const w = workers[i];
      const before = cpuBefore.get(stage);
      const after = cpuAfter.get(stage);
      return {
        stage,
        pid: w?.pid ?? -1,
        calls_stand_in: calls,
        calls_metrics: final?.calls ?? 0,
        llm_seconds_metrics: final?.llmSeconds ?? 0,
        active_ms: activeMs,
        first_call_at_ms: first,
        last_call_at_ms: lastCall,
        utilisation: slotMs === null || o.latencyMs === 0 ? null : (calls * o.latencyMs) / slotMs,
        utilisation_metrics: slotMs === null || o.latencyMs === 0 ? null : ((final?.llmSeconds ?? 0) * 1000) / slotMs,
        timeline,
        states: first === null || lastCall === null ? null : stageStates(polls, stage, first, lastCall, o.concurrency, o.docs),
        consumed: final?.consumed ?? 0,
        produced: final?.produced ?? {},
        cpu_ms_during_run: before !== undefined && after !== undefined && Number.isFinite(after) ? (after - before) * 1000 : null,
        peak_rss_polled_kb: (peakRss.get(stage) ?? 0) / 1024 || null,
        commits: commitStats(finalSamples.get(stage) ?? null, activeMs),
        probe: probes[i] ?? null,
        vm_hwm_at_end_kb: hwm.get(stage) ?? null,
        exit_code: exitCodes[i] ?? null,
      };
    });

    const problems: string[] = [];
    if (e2eMs === null) problems.push('the sink never reached the expected count');
    if (allDoneMs === null) problems.push('not every stage finished its expected work');
    if (sinkCount.count !== expectedQa) problems.push(`sink holds ${sinkCount.count} QA records, corpus implies ${expectedQa}`);
    if (sinkCount.unique !== sinkCount.count) problems.push(`${sinkCount.count - sinkCount.unique} duplicate QA ids in the sink`);
    if (rejections.count !== o.docs - corpus.byKind.pass) problems.push(`${rejections.count} rejections, corpus implies ${o.docs - corpus.byKind.pass}`);
    if (dlq.count !== 0) problems.push(`${dlq.count} dead letters`);
    for (const s of stages) {
      const want = expected[s.stage];
      if (s.calls_stand_in !== want.calls) problems.push(`${s.stage}: stand-in saw ${s.calls_stand_in} calls, corpus implies ${want.calls}`);
      if (s.calls_metrics !== s.calls_stand_in) problems.push(`${s.stage}: /metrics counted ${s.calls_metrics} calls, stand-in saw ${s.calls_stand_in}`);
      if (s.consumed !== want.consumed) problems.push(`${s.stage}: consumed ${s.consumed}, corpus implies ${want.consumed}`);
      if (s.exit_code !== 0) problems.push(`${s.stage}: worker exited with ${s.exit_code}`);
    }
    const firsts = stages.map((s) => s.first_call_at_ms).filter((x): x is number => x !== null);
    return {
      options: o,
      prefix,
      corpus,
      expected,
      expectedQa,
      ingestWallMs: ingestResult.wallMs,
      e2eMs,
      allDoneMs,
      firstLlmCallMs: firsts.length === 0 ? null : Math.min(...firsts),
      stages,
      sink: { records: sinkCount.count, unique: sinkCount.unique, rejections: rejections.count, dlq: dlq.count },
      standIn: { cpuMs: (server.cpuUserUs + server.cpuSystemUs - standInBefore.cpuUserUs - standInBefore.cpuSystemUs) / 1000, maxInFlight: server.maxInFlight },
      brokerCpuMs: brokerBefore !== null && brokerAfter !== null ? brokerAfter - brokerBefore : null,
      problems,
      polls,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000).catch(() => null)));
    await llm.close();
    if (!ctx.options.keep) {
      await deletePrefix(prefix).catch((err: unknown) => ctx.progress(`could not delete topics under ${prefix}: ${String(err)}`));
    }
  }
}

function runHeader(r: KafkaRun): string[] {
  const o = r.options;
  const c = r.corpus;
  const out: string[] = [];
  out.push(row('corpus', `${int(c.documents)} documents: ${int(c.byKind.pass)} pass, ${int(c.documents - c.byKind.pass - c.byKind.unqualified)} pre-filter junk, ${int(c.byKind.unqualified)} LLM-unqualified => ${int(r.expectedQa)} QA expected`));
  out.push(row('topics', `${r.prefix}* , ${o.partitions} partitions each; commit interval ${o.commitIntervalMs === null ? 'default (1 s)' : `${o.commitIntervalMs} ms`}`));
  if (o.fetchMaxWaitMs !== null) out.push(row('EXPERIMENT', `workers' kafkajs consumer maxWaitTimeInMs patched to ${o.fetchMaxWaitMs} ms (product default: kafkajs's 5000 ms)`));
  out.push(row('ingest', `${o.ingestRate > 0 ? `${o.ingestRate} docs/s through stdin` : o.staged ? 'all at once, before any worker' : 'all at once, workers already running'}; ingest process ${ms(r.ingestWallMs)} (spawn to exit)`));
  if (o.staged) out.push(row('STAGED', 'one stage at a time: each worker started when the stage before it had committed everything, so each ran alone on the machine (the others idle)'));
  return out;
}

function e2eLines(r: KafkaRun): string[] {
  const out: string[] = [];
  const docs = r.options.docs;
  if (r.e2eMs !== null) {
    out.push(row('end to end (ingest start -> sink complete)', `${ms(r.e2eMs)} => ${fixed((docs * 1000) / r.e2eMs, 1)} documents/s, ${fixed((r.expectedQa * 1000) / r.e2eMs, 1)} QA/s`));
    if (r.firstLlmCallMs !== null) {
      const span = r.e2eMs - r.firstLlmCallMs;
      out.push(row('  from the first filter LLM call instead', `${ms(span)} => ${fixed((docs * 1000) / span, 1)} documents/s (ingest start to first call: ${ms(r.firstLlmCallMs)})`));
    }
  } else {
    out.push(row('end to end', 'n/a (sink incomplete)'));
  }
  if (r.allDoneMs !== null) out.push(row('every stage committed everything', `${ms(r.allDoneMs)} after ingest start (poll every ${POLL_MS} ms)`));
  return out;
}

function memoryLines(r: KafkaRun): string[] {
  const out: string[] = [];
  let cpuSum = 0;
  for (const s of r.stages) {
    const p = s.probe;
    const cpu = s.cpu_ms_during_run;
    if (cpu !== null) cpuSum += cpu;
    out.push(
      row(
        `  ${s.stage} (pid ${s.pid})`,
        `peak RSS ${p === null ? 'n/a' : mb(p.maxRssKb)} (VmHWM ${s.vm_hwm_at_end_kb === null ? 'n/a' : mb(s.vm_hwm_at_end_kb)}, polled max ${s.peak_rss_polled_kb === null ? 'n/a' : mb(s.peak_rss_polled_kb)}); CPU during run ${cpu === null ? 'n/a' : ms(cpu)}${cpu === null ? '' : ` = ${fixed((cpu * 1000) / Math.max(1, s.consumed), 0)} us/record in`}`,
      ),
    );
  }
  const waits = r.stages.map((s) => s.probe?.schedMs ?? null);
  if (waits.every((w) => w !== null)) {
    // Runnable but not running: on a shared 2-core machine this, not our code, stretches each call.
    out.push(row('  main thread on CPU / waiting for one', r.stages.map((s, i) => `${s.stage} ${ms(waits[i]?.onCpu ?? 0)} / ${ms(waits[i]?.waiting ?? 0)}`).join('; ') + ' (whole process life)'));
  }
  const docs = r.options.docs;
  out.push(row('  workers CPU, all four', `${ms(cpuSum)} = ${fixed(cpuSum / docs, 2)} ms per document`));
  if (r.brokerCpuMs !== null) out.push(row('  broker CPU (JVM, same machine)', `${ms(r.brokerCpuMs)} = ${fixed(r.brokerCpuMs / docs, 2)} ms per document`));
  out.push(row('  stand-in CPU (separate process)', `${ms(r.standIn.cpuMs)}`));
  return out;
}

function sanityLine(r: KafkaRun): string {
  const sink = `sink ${int(r.sink.records)} QA (${int(r.sink.unique)} unique ids) of ${int(r.expectedQa)} expected, ${int(r.sink.rejections)} rejections, ${r.sink.dlq} dead letters`;
  return row('sanity', r.problems.length === 0 ? `valid: ${sink}` : `INVALID RUN: ${r.problems.join('; ')} (${sink})`);
}

function throughputReport(r: KafkaRun): string[] {
  const o = r.options;
  const out: string[] = [];
  out.push(`Throughput: ${int(o.docs)} documents, stand-in LLM ${o.latencyMs} ms per call, --concurrency ${o.concurrency} per worker, 4 workers`);
  out.push(...runHeader(r));
  out.push(...e2eLines(r));
  out.push(row('LLM utilisation per stage', `= calls x ${o.latencyMs} ms / (active wall x ${o.concurrency}); active wall = the stage's first LLM request received at the stand-in to its last reply sent`));
  out.push(row('', `(metrics = the same with the sum of the worker's webscale_rl_llm_request_duration_seconds from /metrics instead of calls x latency;`));
  out.push(row('', ` the worker times a request around its concurrency limiter, so that sum includes waiting for a slot and can exceed 1)`));
  for (const s of r.stages) {
    const u = s.utilisation;
    const met = u !== null && u >= KAFKA_UTILISATION_GOAL ? 'met' : 'NOT met';
    out.push(
      row(
        `  ${s.stage}`,
        `${u === null ? 'n/a' : fixed(u, 3)} (${met}); metrics ${s.utilisation_metrics === null ? 'n/a' : fixed(s.utilisation_metrics, 3)}; ${int(s.calls_stand_in)} calls over ${s.active_ms === null ? 'n/a' : ms(s.active_ms)} [${s.first_call_at_ms === null ? '?' : fixed(s.first_call_at_ms / 1000, 2)} s -> ${s.last_call_at_ms === null ? '?' : fixed(s.last_call_at_ms / 1000, 2)} s]`,
      ),
    );
  }
  out.push(row('where the slot-time went, per stage', `ramp / steady / drain (ms, occupancy); polled share of active time: slots full / starved by upstream (nothing committed left to read) / input there but not fetched`));
  for (const s of r.stages) {
    const t = s.timeline;
    const st = s.states;
    const phases = t === null ? 'n/a' : `${ms(t.ramp.ms)} ${pct(t.ramp.occupancy, 0)} / ${ms(t.steady.ms)} ${pct(t.steady.occupancy, 0)} / ${ms(t.drain.ms)} ${pct(t.drain.occupancy, 0)}; at 100% of C ${pct(t.timeAtOrAbove.full, 0)}`;
    const states = st === null ? '' : `; full ${pct(st.full, 0)} / upstream ${pct(st.starved_upstream, 0)} / fetch ${pct(st.starved_fetch, 0)} (${st.polls} polls)`;
    out.push(row(`  ${s.stage}`, phases + states));
  }
  out.push(...commitLines(r));
  out.push(row('peak RSS and CPU per worker', ''));
  out.push(...memoryLines(r));
  out.push(row('machine', `${machineFacts().cpus} CPUs, load average now ${machineFacts().loadAvg1m}`));
  out.push(sanityLine(r));
  return out;
}

function commitLines(r: KafkaRun): string[] {
  const out = [row('commit transactions per worker', 'count, latency p50 / p99 (from the histogram buckets), transactions/s over the active window, partitions fenced')];
  for (const s of r.stages) {
    const c = s.commits;
    const f = (v: number | null): string => (v === null ? 'n/a' : `${fixed(v, 1)} ms`);
    out.push(row(`  ${s.stage}`, c === null ? 'n/a' : `${int(c.count)} commits, p50 ${f(c.p50_ms)} / p99 ${f(c.p99_ms)}, ${c.per_s === null ? 'n/a' : fixed(c.per_s, 2)}/s, fenced ${c.fenced}`));
  }
  return out;
}

function overheadReport(r: KafkaRun): string[] {
  const o = r.options;
  const out: string[] = [];
  out.push(`Pipeline overhead: ${int(o.docs)} documents, stand-in LLM ${o.latencyMs} ms per call, --concurrency ${o.concurrency} per worker, broker on the same machine`);
  out.push(...runHeader(r));
  out.push(...e2eLines(r));
  out.push(row('per stage: records in / active span (polled)', ''));
  for (const s of r.stages) {
    const span = s.active_ms;
    out.push(row(`  ${s.stage}`, `${int(s.consumed)} records, ${int(s.calls_metrics)} LLM calls, ${span === null ? 'n/a' : `${ms(span)} => ${fixed((s.consumed * 1000) / Math.max(1, span), 0)} records/s`}`));
  }
  out.push(row('peak RSS and CPU per worker', ''));
  out.push(...memoryLines(r));
  out.push(row('machine', `${machineFacts().cpus} CPUs, load average now ${machineFacts().loadAvg1m}`));
  out.push(sanityLine(r));
  return out;
}

function runJson(r: KafkaRun): Record<string, unknown> {
  const o = r.options;
  return {
    documents: o.docs,
    latency_ms: o.latencyMs,
    concurrency: o.concurrency,
    partitions: o.partitions,
    ingest_rate: o.ingestRate,
    commit_interval_ms: o.commitIntervalMs,
    experiment_fetch_max_wait_ms: o.fetchMaxWaitMs,
    topic_prefix: r.prefix,
    corpus: r.corpus,
    expected: r.expected,
    expected_qa: r.expectedQa,
    valid: r.problems.length === 0,
    sanity_problems: r.problems,
    sink: r.sink,
    ingest_wall_ms: r.ingestWallMs,
    e2e_ms: r.e2eMs,
    all_done_ms: r.allDoneMs,
    first_llm_call_ms: r.firstLlmCallMs,
    docs_per_s: r.e2eMs === null ? null : (o.docs * 1000) / r.e2eMs,
    qa_per_s: r.e2eMs === null ? null : (r.expectedQa * 1000) / r.e2eMs,
    utilisation_definition: 'calls x latency / (active wall x concurrency); active wall = first LLM request received at the stage\'s stand-in to its last reply sent',
    utilisation_goal: KAFKA_UTILISATION_GOAL,
    stages: r.stages,
    broker_cpu_ms: r.brokerCpuMs,
    stand_in_cpu_ms: r.standIn.cpuMs,
    stand_in_max_in_flight: r.standIn.maxInFlight,
    // The polled counters, for plotting a run afterwards.
    polls: r.polls,
  };
}

export const kafkaMode: BenchMode = {
  name: 'kafka',
  description: 'four webscale-rl stage worker processes on Kafka against the stand-in LLM in another process',
  implemented: true,
  async run(ctx: BenchContext): Promise<ModeResult> {
    const opt = ctx.options;
    const report: string[] = [];
    const json: Record<string, unknown> = { machine_at_start: machineFacts(), options: opt };
    const base = { concurrency: opt.concurrency, partitions: opt.kafkaPartitions, ingestRate: opt.kafkaIngestRate, staged: opt.kafkaLayout === 'staged', commitIntervalMs: opt.kafkaCommitIntervalMs, fetchMaxWaitMs: opt.kafkaFetchMaxWaitMs };
    if (opt.scenarios.includes('throughput')) {
      const r = await kafkaRun(ctx, { ...base, name: 'throughput', docs: opt.docs, latencyMs: opt.kafkaLatencyMs });
      report.push(...throughputReport(r), '');
      json['throughput'] = runJson(r);
    }
    if (opt.scenarios.includes('memory')) {
      const r = await kafkaRun(ctx, { ...base, name: 'overhead', docs: opt.kafkaOverheadDocs, latencyMs: opt.memoryLatencyMs, ingestRate: 0, staged: false });
      report.push(...overheadReport(r), '');
      json['overhead'] = runJson(r);
    }
    json['machine_at_end'] = machineFacts();
    return { report, json };
  },
};
