/**
 * Linux /proc readings a process takes about itself (null elsewhere): peak RSS as the kernel
 * keeps it, and how long the main thread ran vs waited for a CPU. On a shared machine the wait
 * separates "the pipeline was slow" from "the pipeline was not given a CPU".
 */
import { readFileSync } from 'node:fs';

export interface SchedTimes {
  /** ms the main thread ran on a CPU. */
  onCpu: number;
  /** ms it was runnable but waiting for a CPU. */
  waiting: number;
  /** Times it was put on a CPU (each wake-up is one or more). */
  slices: number;
}

export function schedstat(): SchedTimes | null {
  try {
    const [onCpu, waiting, slices] = readFileSync('/proc/self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    if (onCpu === undefined || waiting === undefined || slices === undefined || ![onCpu, waiting, slices].every(Number.isFinite)) return null;
    return { onCpu: onCpu / 1e6, waiting: waiting / 1e6, slices };
  } catch {
    return null;
  }
}

/** VmHWM from /proc/self/status, kB. */
export function vmHwmKb(): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}
