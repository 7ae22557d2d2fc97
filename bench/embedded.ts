/**
 * Benchmark of the embedded mode (`webscale-rl run`, the whole pipeline in one process) against
 * the stand-in LLM running in a separate process:
 *
 * - throughput: a slow LLM (default 200 ms a call, 64 calls at once). The pipeline should keep
 *   every LLM slot busy, so LLM utilisation = calls x latency / (wall x concurrency) should be
 *   near 1 and calls/s near concurrency / latency. The stand-in's in-flight timeline shows where
 *   the rest went (ramp-up, steady state, drain at the end).
 * - memory: an instant LLM and inputs of growing size (100 / 1 000 / 10 000 documents). Peak RSS
 *   must stay flat however long the input; the child's CPU time per document is our own cost,
 *   with nothing to wait for.
 */
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { expectedCalls, writeCorpus, type CorpusFacts } from './corpus.js';
import { fixed, int, machineFacts, mb, ms, pct, row } from './format.js';
import { startLlmProcess, type LlmProcess } from './llm-process.js';
import type { ServerStatsMessage } from './llm-server.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';
import type { BareClientResult } from './bare-client.js';
import { runBareClient, runCli, type CliRun } from './run-cli.js';
import { analyseTimeline, type Phase } from './timeline.js';

/**
 * Reference prices for the cost per verified QA pair (USD per million tokens): OpenAI's list
 * price of gpt-4o-mini when this was written, applied to the stand-in's token counts (4
 * characters a token), so the figure is tokens per pair in dollars, not a quote.
 */
export const REFERENCE_PRICES = { input: 0.15, output: 0.6 };

/** The issue's goal for LLM utilisation in the throughput run. */
export const UTILISATION_GOAL = 0.95;

interface MeasuredRun {
  run: CliRun;
  server: ServerStatsMessage;
  /** CPU the stand-in spent during this run, in ms. */
  serverCpuMs: number;
  /** ms the stand-in's main thread waited for a CPU during this run (null off Linux). */
  serverWaitMs: number | null;
}

async function measuredRun(ctx: BenchContext, llm: LlmProcess, input: string, name: string): Promise<MeasuredRun> {
  const before = await llm.stats();
  await llm.reset();
  const workDir = join(ctx.workDir, name);
  await mkdir(workDir, { recursive: true });
  const config = join(workDir, 'prices.yaml');
  await writeFile(config, `llm:\n  prices:\n    stand-in-model: { input: ${REFERENCE_PRICES.input}, output: ${REFERENCE_PRICES.output} }\n`);
  const run = await runCli({ input, workDir, llmUrl: llm.url, concurrency: ctx.options.concurrency, config });
  const server = await llm.stats();
  const serverCpuMs = (server.cpuUserUs + server.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1000;
  const serverWaitMs = server.schedMs !== null && before.schedMs !== null ? server.schedMs.waiting - before.schedMs.waiting : null;
  return { run, server, serverCpuMs, serverWaitMs };
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
  let control: BareClientResult | null = null;
  try {
    if (ctx.options.controlCalls > 0) {
      ctx.progress(`throughput: bare HTTP client control, ${ctx.options.controlCalls} calls`);
      control = await runBareClient(llm.url, ctx.options.controlCalls, concurrency);
    }
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
  // Where each call's slot-time goes. utilisation = (latency / mean slot hold) x (share of slot-time held):
  // the first factor is per-call overhead on top of the LLM's latency, the second is feeding.
  const limiterBusyMs = s.llm_utilisation === null ? null : s.llm_utilisation * wallMs * concurrency;
  const meanHoldMs = limiterBusyMs === null || calls === 0 ? null : limiterBusyMs / calls;
  const meanAtServerMs = timeline === null || calls === 0 ? null : (timeline.occupancy * timeline.activeMs * concurrency) / calls;
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
  const perPair = s.cost?.per_verified_qa_usd ?? null;
  report.push(
    row(
      'cost per verified QA pair',
      perPair === null ? 'n/a' : `$${fixed(perPair * 1000, 4)} per 1,000 pairs at $${REFERENCE_PRICES.input}/$${REFERENCE_PRICES.output} per million prompt/completion tokens (stand-in token counts; $${fixed(s.cost?.usd ?? 0, 4)} for the run)`,
    ),
  );
  if (idealWallMs !== null) report.push(row('ideal wall (calls x latency / C)', `${ms(idealWallMs)}; overhead ${ms(wallMs - idealWallMs)}`));
  if (meanHoldMs !== null && meanAtServerMs !== null) {
    report.push(row('per call: mean time at the stand-in', `${fixed(meanAtServerMs, 1)} ms (body received to reply sent; latency setting ${latencyMs} ms)`));
    report.push(row('per call: mean limiter slot hold', `${fixed(meanHoldMs, 1)} ms (+${fixed(meanHoldMs - meanAtServerMs, 1)} ms outside the stand-in: request build and send, loopback, reading and parsing the reply, event-loop and CPU waits on either side)`));
    report.push(row('  => latency / slot hold', `${fixed(latencyMs / meanHoldMs, 3)} (per-call overhead); slot-time held ${fixed(s.llm_utilisation ?? 0, 3)} (feeding)`));
  }
  if (control !== null) {
    report.push(row('control: bare undici client, same C', `${int(control.calls)} calls, mean ${fixed(control.meanCallMs, 1)} ms (p99 ${fixed(control.p99CallMs, 1)}) => latency / call ${fixed(latencyMs / control.meanCallMs, 3)}; ${fixed(control.cpuUsPerCall, 0)} us CPU per call`));
    if (meanHoldMs !== null) report.push(row('  pipeline overhead beyond the control', `${fixed(meanHoldMs - control.meanCallMs, 1)} ms per call`));
  }
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
  const sched = m.run.probe.schedMs;
  if (sched !== null) {
    report.push(row('pipeline main thread waiting for a CPU', `${ms(sched.waiting)} = ${pct(sched.waiting / m.run.processWallMs)} of its wall; ${fixed(sched.waiting / Math.max(1, sched.slices), 2)} ms per wake-up (machine contention)`));
  }
  report.push(row('stand-in CPU (separate process)', `${ms(m.serverCpuMs)} = ${fixed((m.serverCpuMs * 1000) / Math.max(1, calls), 0)} us per call${m.serverWaitMs === null ? '' : `; waited ${ms(m.serverWaitMs)} for a CPU`}`));
  const sEld = m.server.eventLoopDelayMs;
  report.push(row('stand-in event-loop delay', `mean ${fixed(sEld.mean, 2)} ms, p99 ${fixed(sEld.p99, 1)} ms, max ${fixed(sEld.max, 1)} ms`));
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
    cost_per_verified_qa_usd: s.cost?.per_verified_qa_usd ?? null,
    ideal_wall_ms: idealWallMs,
    mean_call_at_stand_in_ms: meanAtServerMs,
    mean_limiter_slot_hold_ms: meanHoldMs,
    bare_client_control: control,
    timeline,
    stand_in_max_in_flight: m.server.maxInFlight,
    pipeline_cpu_ms: pipelineCpuMs,
    pipeline_event_loop_delay_ms: eld,
    pipeline_sched_ms: sched,
    stand_in_cpu_wait_ms: m.serverWaitMs,
    stand_in_event_loop_delay_ms: m.server.eventLoopDelayMs,
    pipeline_max_rss_kb: m.run.probe.maxRssKb,
    stand_in_cpu_ms: m.serverCpuMs,
    sanity_problems: problems,
    summary: s,
  };
  return { report, json };
}

async function memory(ctx: BenchContext): Promise<{ report: string[]; json: Record<string, unknown> }> {
  const { memoryDocs: sizes, memoryLatencyMs: latencyMs, concurrency, seed } = ctx.options;
  // Documents are generated by index, so each smaller corpus is the start of the larger ones.
  const corpora: { docs: number; input: string; facts: CorpusFacts }[] = [];
  for (const docs of sizes) {
    const input = join(ctx.workDir, `corpus-${docs}.jsonl`);
    ctx.progress(`memory: writing ${docs} documents`);
    corpora.push({ docs, input, facts: await writeCorpus(input, docs, seed) });
  }
  const llm = await startLlmProcess(latencyMs);
  const runs: { docs: number; facts: CorpusFacts; m: MeasuredRun }[] = [];
  try {
    for (const c of corpora) {
      ctx.progress(`memory: webscale-rl run, ${c.docs} documents, LLM ${latencyMs} ms`);
      runs.push({ docs: c.docs, facts: c.facts, m: await measuredRun(ctx, llm, c.input, `memory-${c.docs}`) });
    }
  } finally {
    await llm.close();
  }
  const first = runs[0];
  const last = runs[runs.length - 1];
  const beforeLast = runs[runs.length - 2];
  if (first === undefined || last === undefined || beforeLast === undefined) throw new Error('memory scenario needs at least two sizes');
  const small = first.docs;
  const large = last.docs;
  const rss = (r: { m: MeasuredRun }): number => r.m.run.probe.maxRssKb;
  const rssRatio = rss(last) / rss(first);
  const plateauRatio = rss(last) / rss(beforeLast);
  const cpuSmall = cpuMs(first.m.run);
  const cpuLarge = cpuMs(last.m.run);
  const grossPerDoc = cpuLarge / large;
  const marginalPerDoc = (cpuLarge - cpuSmall) / (large - small);
  const callsLarge = last.m.server.total;
  const problems = runs.flatMap((r) => sanityProblems(r.facts, r.m).map((p) => `${r.docs}: ${p}`));

  const report: string[] = [];
  report.push(`CPU and memory: stand-in LLM ${latencyMs} ms per call, --concurrency ${concurrency}, ${sizes.map(int).join(' / ')} documents`);
  for (const r of runs) {
    const p = r.m.run.probe;
    const live = p.heapLiveAtExitBytes === null ? '' : `, live heap at exit ${mb(p.heapLiveAtExitBytes / 1024)}`;
    report.push(row(`peak RSS, ${int(r.docs)} documents`, `${mb(p.maxRssKb)} (VmHWM ${p.vmHwmKb === null ? 'n/a' : mb(p.vmHwmKb)})${live}; ${fixed(r.m.run.summary.elapsed_ms / 1000, 1)} s run`));
  }
  report.push(row(`peak RSS ratio ${int(large)} / ${int(small)}`, `${fixed(rssRatio, 2)}x for ${fixed(large / small, 0)}x the documents`));
  report.push(row(`peak RSS ratio ${int(large)} / ${int(beforeLast.docs)}`, `${fixed(plateauRatio, 2)}x for ${fixed(large / beforeLast.docs, 0)}x the documents (plateau check)`));
  const liveSmall = first.m.run.probe.heapLiveAtExitBytes;
  const liveLarge = last.m.run.probe.heapLiveAtExitBytes;
  if (liveSmall !== null && liveLarge !== null) {
    report.push(row('live heap after full GC, retained per document', `${fixed((liveLarge - liveSmall) / (large - small), 1)} bytes (${int(large)} vs ${int(small)})`));
  }
  report.push(row(`CPU (user+sys), ${int(small)} documents`, `${ms(cpuSmall)}  (includes start-up: Node, config, few-shot library)`));
  report.push(row(`CPU (user+sys), ${int(large)} documents`, `${ms(cpuLarge)} over ${ms(last.m.run.summary.elapsed_ms)} wall`));
  report.push(row(`CPU per document (${int(large)} run, gross)`, `${fixed(grossPerDoc, 2)} ms`));
  report.push(row(`CPU per document (marginal, ${int(large)} - ${int(small)})`, `${fixed(marginalPerDoc, 2)} ms`));
  report.push(row('CPU per passing document / per LLM call', `${fixed(cpuLarge / Math.max(1, last.facts.byKind.pass), 2)} ms / ${fixed((cpuLarge * 1000) / Math.max(1, callsLarge), 0)} us (${int(callsLarge)} calls)`));
  report.push(row('documents/s with an instant LLM', fixed((last.m.run.summary.documents.done * 1000) / last.m.run.summary.elapsed_ms, 1)));
  const sched = last.m.run.probe.schedMs;
  if (sched !== null) report.push(row(`${int(large)} run: main thread waiting for a CPU`, `${ms(sched.waiting)} = ${pct(sched.waiting / last.m.run.processWallMs)} of its wall (machine contention)`));
  report.push(row(`stand-in CPU, ${int(large)} run (separate process)`, `${ms(last.m.serverCpuMs)} = ${fixed((last.m.serverCpuMs * 1000) / Math.max(1, callsLarge), 0)} us per call`));
  report.push(row('machine', `${machineFacts().cpus} CPUs, load average now ${machineFacts().loadAvg1m}`));
  report.push(row('sanity', problems.length === 0 ? 'counts match the corpus' : `MISMATCH: ${problems.join('; ')}`));

  const runJson = (r: { docs: number; facts: CorpusFacts; m: MeasuredRun }): Record<string, unknown> => ({
    documents: r.docs,
    corpus: r.facts,
    wall_ms: r.m.run.summary.elapsed_ms,
    process_wall_ms: r.m.run.processWallMs,
    cpu_user_ms: r.m.run.probe.userCpuUs / 1000,
    cpu_system_ms: r.m.run.probe.systemCpuUs / 1000,
    max_rss_kb: r.m.run.probe.maxRssKb,
    vm_hwm_kb: r.m.run.probe.vmHwmKb,
    heap_used_at_exit_bytes: r.m.run.probe.heapUsedAtExitBytes,
    heap_live_at_exit_bytes: r.m.run.probe.heapLiveAtExitBytes,
    event_loop_delay_ms: r.m.run.probe.eventLoopDelayMs,
    sched_ms: r.m.run.probe.schedMs,
    llm_calls: r.m.server.total,
    stand_in_cpu_ms: r.m.serverCpuMs,
    summary: r.m.run.summary,
  });
  const json = {
    latency_ms: latencyMs,
    concurrency,
    runs: runs.map(runJson),
    peak_rss_ratio_largest_smallest: rssRatio,
    peak_rss_ratio_largest_next: plateauRatio,
    cpu_ms_per_doc_gross: grossPerDoc,
    cpu_ms_per_doc_marginal: marginalPerDoc,
    cpu_us_per_llm_call: (cpuLarge * 1000) / Math.max(1, callsLarge),
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
      // On a shared machine one run can be unlucky; with --repeat the median run is reported in full.
      const runs: { report: string[]; json: Record<string, unknown> }[] = [];
      for (let i = 0; i < ctx.options.repeat; i++) runs.push(await throughput(ctx));
      const util = (r: { json: Record<string, unknown> }): number => (r.json['llm_utilisation'] as number | null) ?? 0;
      const sorted = [...runs].sort((x, y) => util(x) - util(y));
      const median = sorted[Math.floor((sorted.length - 1) / 2)];
      if (median === undefined) throw new Error('--repeat must be at least 1');
      report.push(...median.report);
      if (runs.length > 1) {
        report.push(row(`repeats (${runs.length}), this is the median`, `utilisation ${runs.map((r) => fixed(util(r), 3)).join(', ')}; calls/s ${runs.map((r) => fixed(r.json['calls_per_s'] as number, 1)).join(', ')}`));
      }
      report.push('');
      json['throughput'] = median.json;
      if (runs.length > 1) json['throughput_runs'] = runs.map((r) => r.json);
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
