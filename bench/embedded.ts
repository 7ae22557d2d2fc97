/**
 * Benchmark of the embedded mode (`webscale-rl run`, the whole pipeline in one process) against
 * the stand-in LLM running in a separate process:
 *
 * - throughput: a slow LLM (default 200 ms a call, 64 calls at once). The pipeline should keep
 *   every LLM slot busy, so LLM utilisation = calls x latency / (wall x concurrency) should be
 *   near 1 and calls/s near concurrency / latency. The stand-in's in-flight timeline shows where
 *   the rest went (ramp-up, steady state, drain at the end).
 * - memory: an instant LLM and a small vs a large input. Peak RSS must stay flat however long
 *   the input; the child's CPU time per document is our own cost, with nothing to wait for.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { expectedCalls, writeCorpus, type CorpusFacts } from './corpus.js';
import { fixed, int, machineFacts, mb, ms, pct, row } from './format.js';
import { startLlmProcess, type LlmProcess } from './llm-process.js';
import type { ServerStatsMessage } from './llm-server.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';
import { runCli, type CliRun } from './run-cli.js';
import { analyseTimeline, type Phase } from './timeline.js';

/** The issue's goal for LLM utilisation in the throughput run. */
export const UTILISATION_GOAL = 0.95;

interface MeasuredRun {
  run: CliRun;
  server: ServerStatsMessage;
  /** CPU the stand-in spent during this run, in ms. */
  serverCpuMs: number;
}

async function measuredRun(ctx: BenchContext, llm: LlmProcess, input: string, name: string): Promise<MeasuredRun> {
  const before = await llm.stats();
  await llm.reset();
  const workDir = join(ctx.workDir, name);
  await mkdir(workDir, { recursive: true });
  const run = await runCli({ input, workDir, llmUrl: llm.url, concurrency: ctx.options.concurrency });
  const server = await llm.stats();
  const serverCpuMs = (server.cpuUserUs + server.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1000;
  return { run, server, serverCpuMs };
}

function cpuMs(run: CliRun): number {
  return (run.probe.userCpuUs + run.probe.systemCpuUs) / 1000;
}

/** Differences between what the corpus should produce and what the run reported (empty = sane). */
function sanityProblems(facts: CorpusFacts, m: MeasuredRun, personas = 2): string[] {
  const s = m.run.summary;
  const problems: string[] = [];
  const wantCalls = expectedCalls(facts, personas);
  if (s.documents.read !== facts.documents) problems.push(`documents read ${s.documents.read}, corpus has ${facts.documents}`);
  if (s.documents.done !== facts.documents) problems.push(`documents done ${s.documents.done} of ${facts.documents}`);
  if (m.server.total !== wantCalls) problems.push(`stand-in saw ${m.server.total} calls, corpus should cost ${wantCalls}`);
  if (s.tokens.total.calls !== m.server.total) problems.push(`pipeline metered ${s.tokens.total.calls} calls, stand-in saw ${m.server.total}`);
  if (s.qa_kept !== facts.byKind.pass * personas) problems.push(`QA kept ${s.qa_kept}, expected ${facts.byKind.pass * personas}`);
  const failed = Object.values(s.stages).reduce((n, st) => n + st.llm_failed, 0);
  if (failed > 0) problems.push(`${failed} llm.failed rejections`);
  return problems;
}

function phaseLine(name: string, p: Phase, concurrency: number, wallMs: number): string {
  // Lost slot-time as a share of the whole run's slot-time: the phases' shares add up to 1 - utilisation.
  const share = wallMs > 0 ? p.lostSlotMs / (wallMs * concurrency) : 0;
  return row(`  ${name}`, `${ms(p.ms).padStart(9)}  occupancy ${pct(p.occupancy).padStart(6)}  lost ${pct(share)} of slot-time`);
}

async function throughput(ctx: BenchContext): Promise<{ report: string[]; json: Record<string, unknown> }> {
  const { docs, latencyMs, concurrency, seed } = ctx.options;
  const input = join(ctx.workDir, `corpus-${docs}.jsonl`);
  ctx.progress(`throughput: writing ${docs} documents`);
  const facts = await writeCorpus(input, docs, seed);
  const llm = await startLlmProcess(latencyMs);
  let m: MeasuredRun;
  try {
    ctx.progress(`throughput: webscale-rl run, ${docs} documents, LLM ${latencyMs} ms, concurrency ${concurrency}`);
    m = await measuredRun(ctx, llm, input, 'throughput');
  } finally {
    await llm.close();
  }
  const s = m.run.summary;
  const wallMs = s.elapsed_ms;
  const calls = m.server.total;
  const ourUtil = wallMs > 0 ? (calls * latencyMs) / (wallMs * concurrency) : null;
  const theoreticalCallsPerS = latencyMs > 0 ? (concurrency * 1000) / latencyMs : null;
  const callsPerS = (calls * 1000) / wallMs;
  const docsPerS = (s.documents.done * 1000) / wallMs;
  const qaPerS = (s.qa_kept * 1000) / wallMs;
  const idealWallMs = latencyMs > 0 ? (calls * latencyMs) / concurrency : null;
  const timeline = analyseTimeline(m.server.samples, concurrency);
  const pipelineCpuMs = cpuMs(m.run);
  const problems = sanityProblems(facts, m);

  const report: string[] = [];
  report.push(`Throughput: ${int(docs)} documents, stand-in LLM ${latencyMs} ms per call, --concurrency ${concurrency}`);
  report.push(row('corpus', `${int(facts.byKind.pass)} pass, ${int(facts.documents - facts.byKind.pass - facts.byKind.unqualified)} pre-filter junk, ${int(facts.byKind.unqualified)} LLM-unqualified; ${fixed(facts.meanWordsPassing, 0)} words/doc; ${mb(facts.bytes / 1024)}`));
  report.push(row('wall (pipeline elapsed_ms)', `${ms(wallMs)}  (process spawn to exit: ${ms(m.run.processWallMs)})`));
  report.push(row('LLM calls (stand-in saw / pipeline metered)', `${int(calls)} / ${int(s.tokens.total.calls)}`));
  report.push(row('LLM utilisation = calls x latency / (wall x C)', `${ourUtil === null ? 'n/a' : fixed(ourUtil, 3)}  (goal >= ${UTILISATION_GOAL}${ourUtil !== null && ourUtil >= UTILISATION_GOAL ? ', met' : ourUtil === null ? '' : ', NOT met'})`));
  report.push(row('LLM utilisation, limiter (summary)', s.llm_utilisation === null ? 'n/a' : `${fixed(s.llm_utilisation, 3)}  (slot hold time, includes HTTP and parsing)`));
  report.push(row('calls/s', `${fixed(callsPerS, 1)} of theoretical ${theoreticalCallsPerS === null ? 'n/a' : `${fixed(theoreticalCallsPerS, 0)} (C / latency) = ${pct(callsPerS / theoreticalCallsPerS)}`}`));
  report.push(row('documents/s', fixed(docsPerS, 2)));
  report.push(row('QA pairs/s', `${fixed(qaPerS, 2)}  (${int(s.qa_kept)} kept)`));
  if (idealWallMs !== null) report.push(row('ideal wall (calls x latency / C)', `${ms(idealWallMs)}; overhead ${ms(wallMs - idealWallMs)}`));
  if (timeline !== null) {
    report.push(row('stand-in in-flight timeline', `${ms(timeline.activeMs)} active, mean occupancy ${pct(timeline.occupancy)}, max in flight ${m.server.maxInFlight}`));
    report.push(phaseLine('ramp-up (until slots first full)', timeline.ramp, concurrency, wallMs));
    report.push(phaseLine('steady (until slots last full)', timeline.steady, concurrency, wallMs));
    report.push(phaseLine('drain (input exhausted)', timeline.drain, concurrency, wallMs));
    report.push(row('  time at 100% / >=95% / >=75% of C', `${pct(timeline.timeAtOrAbove.full)} / ${pct(timeline.timeAtOrAbove.p95)} / ${pct(timeline.timeAtOrAbove.p75)}`));
  }
  report.push(row('pipeline CPU', `${ms(pipelineCpuMs)} = ${fixed(pipelineCpuMs / m.run.processWallMs, 2)} cores over the process; ${fixed((pipelineCpuMs * 1000) / calls, 0)} us per LLM call`));
  const eld = m.run.probe.eventLoopDelayMs;
  report.push(row('pipeline event-loop delay', `mean ${fixed(eld.mean, 2)} ms, p99 ${fixed(eld.p99, 1)} ms, max ${fixed(eld.max, 1)} ms`));
  report.push(row('stand-in CPU (separate process)', `${ms(m.serverCpuMs)} = ${fixed((m.serverCpuMs * 1000) / Math.max(1, calls), 0)} us per call`));
  report.push(row('machine', `${machineFacts().cpus} CPUs, load average now ${machineFacts().loadAvg1m}`));
  report.push(row('sanity', problems.length === 0 ? 'counts match the corpus' : `MISMATCH: ${problems.join('; ')}`));

  const json = {
    documents: docs,
    latency_ms: latencyMs,
    concurrency,
    corpus: facts,
    wall_ms: wallMs,
    process_wall_ms: m.run.processWallMs,
    llm_calls_stand_in: calls,
    llm_calls_metered: s.tokens.total.calls,
    llm_utilisation: ourUtil,
    llm_utilisation_limiter: s.llm_utilisation,
    utilisation_goal: UTILISATION_GOAL,
    calls_per_s: callsPerS,
    theoretical_calls_per_s: theoreticalCallsPerS,
    docs_per_s: docsPerS,
    qa_per_s: qaPerS,
    qa_kept: s.qa_kept,
    ideal_wall_ms: idealWallMs,
    timeline,
    stand_in_max_in_flight: m.server.maxInFlight,
    pipeline_cpu_ms: pipelineCpuMs,
    pipeline_event_loop_delay_ms: eld,
    pipeline_max_rss_kb: m.run.probe.maxRssKb,
    stand_in_cpu_ms: m.serverCpuMs,
    sanity_problems: problems,
    summary: s,
  };
  return { report, json };
}

async function memory(ctx: BenchContext): Promise<{ report: string[]; json: Record<string, unknown> }> {
  const { memorySmallDocs: small, memoryLargeDocs: large, memoryLatencyMs: latencyMs, concurrency, seed } = ctx.options;
  // The small corpus is the first documents of the large one (documents are generated by index).
  const smallInput = join(ctx.workDir, `corpus-${small}.jsonl`);
  const largeInput = join(ctx.workDir, `corpus-${large}.jsonl`);
  ctx.progress(`memory: writing ${small} and ${large} documents`);
  const smallFacts = await writeCorpus(smallInput, small, seed);
  const largeFacts = await writeCorpus(largeInput, large, seed);
  const llm = await startLlmProcess(latencyMs);
  let a: MeasuredRun;
  let b: MeasuredRun;
  try {
    ctx.progress(`memory: webscale-rl run, ${small} documents, LLM ${latencyMs} ms`);
    a = await measuredRun(ctx, llm, smallInput, `memory-${small}`);
    ctx.progress(`memory: webscale-rl run, ${large} documents, LLM ${latencyMs} ms`);
    b = await measuredRun(ctx, llm, largeInput, `memory-${large}`);
  } finally {
    await llm.close();
  }
  const rssRatio = b.run.probe.maxRssKb / a.run.probe.maxRssKb;
  const cpuA = cpuMs(a.run);
  const cpuB = cpuMs(b.run);
  const grossPerDoc = cpuB / large;
  const marginalPerDoc = large > small ? (cpuB - cpuA) / (large - small) : null;
  const callsB = b.server.total;
  const passingB = largeFacts.byKind.pass;
  const problems = [...sanityProblems(smallFacts, a).map((p) => `${small}: ${p}`), ...sanityProblems(largeFacts, b).map((p) => `${large}: ${p}`)];

  const report: string[] = [];
  report.push(`CPU and memory: stand-in LLM ${latencyMs} ms per call, --concurrency ${concurrency}, ${int(small)} vs ${int(large)} documents`);
  report.push(row(`peak RSS, ${int(small)} documents`, `${mb(a.run.probe.maxRssKb)}  (VmHWM ${a.run.probe.vmHwmKb === null ? 'n/a' : mb(a.run.probe.vmHwmKb)})`));
  report.push(row(`peak RSS, ${int(large)} documents`, `${mb(b.run.probe.maxRssKb)}  (VmHWM ${b.run.probe.vmHwmKb === null ? 'n/a' : mb(b.run.probe.vmHwmKb)})`));
  report.push(row('peak RSS ratio large / small', `${fixed(rssRatio, 2)}x for ${fixed(large / small, 0)}x the documents`));
  report.push(row('heap used at exit (small / large)', `${mb(a.run.probe.heapUsedAtExitBytes / 1024)} / ${mb(b.run.probe.heapUsedAtExitBytes / 1024)}`));
  report.push(row(`CPU (user+sys), ${int(small)} documents`, `${ms(cpuA)}  (mostly start-up: Node, config, few-shot library)`));
  report.push(row(`CPU (user+sys), ${int(large)} documents`, `${ms(cpuB)} over ${ms(b.run.summary.elapsed_ms)} wall`));
  report.push(row('CPU per document (large run, gross)', `${fixed(grossPerDoc, 2)} ms`));
  if (marginalPerDoc !== null) report.push(row('CPU per document (marginal, large - small)', `${fixed(marginalPerDoc, 2)} ms`));
  report.push(row('CPU per passing document / per LLM call', `${fixed(cpuB / Math.max(1, passingB), 2)} ms / ${fixed((cpuB * 1000) / Math.max(1, callsB), 0)} us (${int(callsB)} calls)`));
  report.push(row('documents/s with an instant LLM (CPU-bound)', fixed((b.run.summary.documents.done * 1000) / b.run.summary.elapsed_ms, 1)));
  report.push(row('stand-in CPU, large run (separate process)', `${ms(b.serverCpuMs)} = ${fixed((b.serverCpuMs * 1000) / Math.max(1, callsB), 0)} us per call`));
  report.push(row('machine', `${machineFacts().cpus} CPUs, load average now ${machineFacts().loadAvg1m}`));
  report.push(row('sanity', problems.length === 0 ? 'counts match the corpus' : `MISMATCH: ${problems.join('; ')}`));

  const runJson = (m: MeasuredRun, facts: CorpusFacts): Record<string, unknown> => ({
    documents: facts.documents,
    corpus: facts,
    wall_ms: m.run.summary.elapsed_ms,
    process_wall_ms: m.run.processWallMs,
    cpu_user_ms: m.run.probe.userCpuUs / 1000,
    cpu_system_ms: m.run.probe.systemCpuUs / 1000,
    max_rss_kb: m.run.probe.maxRssKb,
    vm_hwm_kb: m.run.probe.vmHwmKb,
    heap_used_at_exit_bytes: m.run.probe.heapUsedAtExitBytes,
    event_loop_delay_ms: m.run.probe.eventLoopDelayMs,
    llm_calls: m.server.total,
    stand_in_cpu_ms: m.serverCpuMs,
    summary: m.run.summary,
  });
  const json = {
    latency_ms: latencyMs,
    concurrency,
    small: runJson(a, smallFacts),
    large: runJson(b, largeFacts),
    peak_rss_ratio: rssRatio,
    cpu_ms_per_doc_gross: grossPerDoc,
    cpu_ms_per_doc_marginal: marginalPerDoc,
    cpu_us_per_llm_call: (cpuB * 1000) / Math.max(1, callsB),
    sanity_problems: problems,
  };
  return { report, json };
}

export const embeddedMode: BenchMode = {
  name: 'embedded',
  description: 'webscale-rl run (whole pipeline in one process) against the stand-in LLM in another process',
  implemented: true,
  async run(ctx: BenchContext): Promise<ModeResult> {
    const report: string[] = [];
    const json: Record<string, unknown> = { machine_at_start: machineFacts(), options: ctx.options };
    if (ctx.options.scenarios.includes('throughput')) {
      const t = await throughput(ctx);
      report.push(...t.report, '');
      json['throughput'] = t.json;
    }
    if (ctx.options.scenarios.includes('memory')) {
      const mem = await memory(ctx);
      report.push(...mem.report, '');
      json['memory'] = mem.json;
    }
    json['machine_at_end'] = machineFacts();
    return { report, json };
  },
};
