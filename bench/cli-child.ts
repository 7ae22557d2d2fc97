/**
 * Runs the real `webscale-rl` CLI in this process and, as the process exits, writes what the
 * benchmark needs to know about it to the JSON file named by BENCH_PROBE_FILE: CPU time and peak
 * RSS (`process.resourceUsage()`, which Node cannot report for a child from outside) and the
 * event-loop delay (a loop busy with our own CPU work delays LLM replies and starves slots).
 *   BENCH_PROBE_FILE=/tmp/x.json node dist/bench/cli-child.js run --input ... --output ...
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { schedstat, vmHwmKb, type SchedTimes } from './proc.js';

export interface ChildProbe {
  exitCode: number;
  userCpuUs: number;
  systemCpuUs: number;
  /** Peak resident set size, kB (getrusage ru_maxrss). */
  maxRssKb: number;
  /** VmHWM from /proc/self/status, kB: the kernel's peak RSS, a cross-check; null off Linux. */
  vmHwmKb: number | null;
  heapUsedAtExitBytes: number;
  /**
   * Heap still reachable at exit, after a full GC (needs node --expose-gc; null without it).
   * The run is over by then, so whatever grows with the input size here is a leak.
   */
  heapLiveAtExitBytes: number | null;
  /** How late the loop ran a 10 ms timer, ms. */
  eventLoopDelayMs: { mean: number; p50: number; p99: number; max: number };
  /** Main thread on a CPU vs waiting for one (see proc.ts). */
  schedMs: SchedTimes | null;
  /** ms from process start to exit, by this process's own clock. */
  uptimeMs: number;
}

const probeFile = process.env['BENCH_PROBE_FILE'];
// The histogram records whole timer intervals, so the resolution is subtracted from each figure.
const LOOP_RESOLUTION_MS = 10;
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loop.enable();

process.on('exit', (code) => {
  if (probeFile === undefined) return;
  loop.disable();
  const ru = process.resourceUsage();
  const heapUsedAtExitBytes = process.memoryUsage().heapUsed;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapLiveAtExitBytes = gc === undefined ? null : process.memoryUsage().heapUsed;
  const ns = (x: number): number => Math.max(0, x / 1e6 - LOOP_RESOLUTION_MS);
  const probe: ChildProbe = {
    exitCode: code,
    userCpuUs: ru.userCPUTime,
    systemCpuUs: ru.systemCPUTime,
    maxRssKb: ru.maxRSS,
    vmHwmKb: vmHwmKb(),
    heapUsedAtExitBytes,
    heapLiveAtExitBytes,
    eventLoopDelayMs: { mean: ns(loop.mean), p50: ns(loop.percentile(50)), p99: ns(loop.percentile(99)), max: ns(loop.max) },
    schedMs: schedstat(),
    uptimeMs: process.uptime() * 1000,
  };
  writeFileSync(probeFile, JSON.stringify(probe) + '\n');
});

// Experiment hook for the Kafka bench, off unless BENCH_KAFKA_MAX_WAIT_MS is set: every kafkajs
// consumer the CLI creates gets this maxWaitTimeInMs. kafkajs sleeps that long (default 5 s)
// whenever all of a consumer's partitions are paused, and resume() does not cut the sleep short;
// the bench uses the hook to measure what a shorter wait would change without editing src/.
const maxWaitMs = process.env['BENCH_KAFKA_MAX_WAIT_MS'];
if (maxWaitMs !== undefined && maxWaitMs !== '') {
  const { Kafka } = (await import('kafkajs')).default;
  const consumer = Kafka.prototype.consumer;
  Kafka.prototype.consumer = function (this: InstanceType<typeof Kafka>, config: Parameters<typeof consumer>[0]) {
    return consumer.call(this, { ...config, maxWaitTimeInMs: Number(maxWaitMs) });
  };
}

// commander reads process.argv[2..] as the command line, exactly as with dist/src/cli/main.js.
await import('../src/cli/main.js');
