/**
 * The stand-in LLM in its own process for the benchmark (forked with an IPC channel by
 * `llm-process.ts`), so that its CPU does not count against the pipeline's on a small machine.
 *
 * Besides serving, it samples how many chat calls it is answering every few milliseconds: the
 * server's own view of how full the pipeline keeps the LLM slots, over time. That timeline is
 * what shows where utilisation is lost (ramp-up, steady state, the drain at the end).
 *
 * With `--servers N` it serves N independent stand-ins on N ports from the one process (the
 * Kafka bench gives each stage worker its own, so each stage's calls and in-flight timeline are
 * measured apart); the top-level figures are then summed over the servers.
 *
 * Protocol (process.send / 'message'): child -> {type:'ready', url, urls}; parent {type:'stats'} ->
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

/** One server's share of the stats (there is one per `--servers`). */
export interface ServerShare {
  url: string;
  total: number;
  maxInFlight: number;
  samples: ServerSample[];
}

export interface ServerStatsMessage {
  type: 'stats';
  /** Chat-completion requests received (all servers). */
  total: number;
  /** The most in flight at once, summed over the servers at each sample (exact with one server). */
  maxInFlight: number;
  /** In flight summed over the servers. */
  samples: ServerSample[];
  sampleEveryMs: number;
  /** Sample time 0 on the wall clock (epoch ms), to line the timeline up with other processes. */
  startedEpochMs: number;
  servers: ServerShare[];
  /** The server process's own CPU time since it started, in microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Cumulative since the server started. */
  schedMs: SchedTimes | null;
  /** How late its loop ran a 10 ms timer since the last reset, ms: requests queue behind that. */
  eventLoopDelayMs: { mean: number; p99: number; max: number };
}

export type ServerMessage = { type: 'ready'; url: string; urls: string[] } | ServerStatsMessage | { type: 'reset' };
export type ParentMessage = { type: 'stats' } | { type: 'reset' };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { latency: { type: 'string', default: '0' }, 'sample-ms': { type: 'string', default: '5' }, servers: { type: 'string', default: '1' } },
  });
  const latencyMs = Number(values.latency);
  const sampleEveryMs = Number(values['sample-ms']);
  const servers = await Promise.all(Array.from({ length: Math.max(1, Number(values.servers)) }, () => startStandInLlm({ latencyMs, maxLog: 10, countProbes: false })));
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
  let perServer = servers.map(() => ({ samples: [] as ServerSample[], last: -1 }));
  let maxSummed = 0;
  const timer = setInterval(() => {
    const t = performance.now() - started;
    let inFlight = 0;
    servers.forEach((server, i) => {
      const n = server.stats().inFlight;
      inFlight += n;
      const own = perServer[i];
      if (own !== undefined && n !== own.last) {
        own.samples.push({ t, inFlight: n });
        own.last = n;
      }
    });
    maxSummed = Math.max(maxSummed, inFlight);
    if (inFlight !== last) {
      samples.push({ t, inFlight });
      last = inFlight;
    }
  }, sampleEveryMs);

  process.on('message', (m: ParentMessage) => {
    if (m.type === 'stats') {
      const each = servers.map((server) => server.stats());
      const ru = process.resourceUsage();
      send({
        type: 'stats',
        total: each.reduce((n, x) => n + x.total, 0),
        // One server counts its own peak exactly; across servers only the sampled sum exists.
        maxInFlight: each.length === 1 ? (each[0]?.maxInFlight ?? 0) : maxSummed,
        samples,
        sampleEveryMs,
        startedEpochMs: performance.timeOrigin + started,
        servers: servers.map((server, i) => ({ url: server.url, total: each[i]?.total ?? 0, maxInFlight: each[i]?.maxInFlight ?? 0, samples: perServer[i]?.samples ?? [] })),
        cpuUserUs: ru.userCPUTime,
        cpuSystemUs: ru.systemCPUTime,
        schedMs: schedstat(),
        eventLoopDelayMs: { mean: late(loop.mean), p99: late(loop.percentile(99)), max: late(loop.max) },
      });
    } else if (m.type === 'reset') {
      for (const server of servers) server.resetStats();
      started = performance.now();
      samples = [];
      last = -1;
      perServer = servers.map(() => ({ samples: [], last: -1 }));
      maxSummed = 0;
      loop.reset();
      send({ type: 'reset' });
    }
  });
  // The parent going away (or closing the channel) ends us: no stray servers after a crash.
  process.on('disconnect', () => {
    clearInterval(timer);
    void Promise.all(servers.map((server) => server.close())).then(() => process.exit(0));
  });
  send({ type: 'ready', url: servers[0]?.url ?? '', urls: servers.map((server) => server.url) });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench llm-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
