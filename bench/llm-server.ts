/**
 * The stand-in LLM in its own process for the benchmark (forked with an IPC channel by
 * `llm-process.ts`), so that its CPU does not count against the pipeline's on a small machine.
 *
 * Besides serving, it samples how many chat calls it is answering every few milliseconds: the
 * server's own view of how full the pipeline keeps the LLM slots, over time. That timeline is
 * what shows where utilisation is lost (ramp-up, steady state, the drain at the end).
 *
 * Protocol (process.send / 'message'): child -> {type:'ready', url}; parent {type:'stats'} ->
 * child {type:'stats', ...}; parent {type:'reset'} -> child {type:'reset'}.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startStandInLlm } from '../test/support/stand-in-llm.js';
import { schedstat, type SchedTimes } from './proc.js';

export interface ServerSample {
  /** ms since the sampler started. */
  t: number;
  inFlight: number;
}

export interface ServerStatsMessage {
  type: 'stats';
  /** Chat-completion requests received. */
  total: number;
  maxInFlight: number;
  samples: ServerSample[];
  sampleEveryMs: number;
  /** The server process's own CPU time since it started, in microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Cumulative since the server started. */
  schedMs: SchedTimes | null;
  /** How late its loop ran a 10 ms timer since the last reset, ms: requests queue behind that. */
  eventLoopDelayMs: { mean: number; p99: number; max: number };
}

export type ServerMessage = { type: 'ready'; url: string } | ServerStatsMessage | { type: 'reset' };
export type ParentMessage = { type: 'stats' } | { type: 'reset' };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { latency: { type: 'string', default: '0' }, 'sample-ms': { type: 'string', default: '5' } },
  });
  const latencyMs = Number(values.latency);
  const sampleEveryMs = Number(values['sample-ms']);
  const server = await startStandInLlm({ latencyMs, maxLog: 10 });
  const send = (m: ServerMessage): void => {
    process.send?.(m);
  };

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  // The histogram records whole timer intervals; the resolution is not delay.
  const late = (ns: number): number => Math.max(0, ns / 1e6 - 10);

  // A sample only when the count changed keeps the timeline short on long idle or flat periods.
  let started = performance.now();
  let samples: ServerSample[] = [];
  let last = -1;
  const timer = setInterval(() => {
    const inFlight = server.stats().inFlight;
    if (inFlight !== last) {
      samples.push({ t: performance.now() - started, inFlight });
      last = inFlight;
    }
  }, sampleEveryMs);

  process.on('message', (m: ParentMessage) => {
    if (m.type === 'stats') {
      const s = server.stats();
      const ru = process.resourceUsage();
      send({
        type: 'stats',
        total: s.total,
        maxInFlight: s.maxInFlight,
        samples,
        sampleEveryMs,
        cpuUserUs: ru.userCPUTime,
        cpuSystemUs: ru.systemCPUTime,
        schedMs: schedstat(),
        eventLoopDelayMs: { mean: late(loop.mean), p99: late(loop.percentile(99)), max: late(loop.max) },
      });
    } else if (m.type === 'reset') {
      server.resetStats();
      started = performance.now();
      samples = [];
      last = -1;
      loop.reset();
      send({ type: 'reset' });
    }
  });
  // The parent going away (or closing the channel) ends us: no stray servers after a crash.
  process.on('disconnect', () => {
    clearInterval(timer);
    void server.close().then(() => process.exit(0));
  });
  send({ type: 'ready', url: server.url });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench llm-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
