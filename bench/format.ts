/** Number formatting and a machine-context header for benchmark reports. */
import { cpus, loadavg, totalmem } from 'node:os';

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fixed = (n: number, digits = 1): string => n.toFixed(digits);
export const pct = (x: number | null, digits = 1): string => (x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`);
export const ms = (n: number): string => `${Math.round(n).toLocaleString('en-US')} ms`;
export const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;

/** A label padded into a column, then the value. */
export function row(label: string, value: string, width = 44): string {
  return `  ${label.padEnd(width)} ${value}`;
}

export interface MachineFacts {
  node: string;
  cpus: number;
  cpuModel: string;
  totalMemMb: number;
  /** 1-minute load average when the figure was taken: other work on the machine skews timings. */
  loadAvg1m: number;
}

export function machineFacts(): MachineFacts {
  const c = cpus();
  return {
    node: process.version,
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    totalMemMb: Math.round(totalmem() / 2 ** 20),
    loadAvg1m: Number((loadavg()[0] ?? 0).toFixed(2)),
  };
}
