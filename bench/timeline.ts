/**
 * Reads the stand-in server's in-flight timeline (see `llm-server.ts`) and splits the run into
 * ramp-up (before the LLM slots first fill), steady state (until they are full for the last
 * time) and drain (the end, when too few documents are left to fill them). Lost slot-time per
 * phase says where utilisation goes: a drain loss shrinks as the input grows, a steady-state loss
 * does not.
 */
import type { ServerSample } from './llm-server.js';

export interface Phase {
  ms: number;
  /** Mean calls in flight at the server / concurrency. */
  occupancy: number;
  /** Slot-milliseconds left empty: integral of (concurrency - in flight). */
  lostSlotMs: number;
}

export interface TimelineAnalysis {
  /** First request received to last response sent, ms. */
  activeMs: number;
  occupancy: number;
  ramp: Phase;
  steady: Phase;
  drain: Phase;
  /** In-flight histogram over the active window: share of time at >= 100%, >= 95%, >= 75% of the cap. */
  timeAtOrAbove: { full: number; p95: number; p75: number };
}

/** Integral of in-flight over [from, to] for a step function given by `samples` (sorted). */
function integrate(samples: readonly ServerSample[], from: number, to: number): number {
  let area = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as ServerSample;
    const next = samples[i + 1]?.t ?? to;
    const a = Math.max(from, s.t);
    const b = Math.min(to, next);
    if (b > a) area += s.inFlight * (b - a);
  }
  return area;
}

function timeWhere(samples: readonly ServerSample[], from: number, to: number, pred: (n: number) => boolean): number {
  let ms = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as ServerSample;
    const next = samples[i + 1]?.t ?? to;
    const a = Math.max(from, s.t);
    const b = Math.min(to, next);
    if (b > a && pred(s.inFlight)) ms += b - a;
  }
  return ms;
}

function phase(samples: readonly ServerSample[], from: number, to: number, concurrency: number): Phase {
  const ms = Math.max(0, to - from);
  const area = ms > 0 ? integrate(samples, from, to) : 0;
  return { ms, occupancy: ms > 0 ? area / (ms * concurrency) : 0, lostSlotMs: ms * concurrency - area };
}

export function analyseTimeline(samples: readonly ServerSample[], concurrency: number): TimelineAnalysis | null {
  const firstBusy = samples.findIndex((s) => s.inFlight > 0);
  if (firstBusy < 0) return null;
  const start = (samples[firstBusy] as ServerSample).t;
  let end = start;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i] as ServerSample;
    if (s.inFlight === 0) continue;
    end = samples[i + 1]?.t ?? s.t;
    break;
  }
  const fullIdx = samples.findIndex((s) => s.inFlight >= concurrency);
  let lastFullEnd = start;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i] as ServerSample;
    if (s.inFlight < concurrency) continue;
    lastFullEnd = samples[i + 1]?.t ?? s.t;
    break;
  }
  const steadyFrom = fullIdx < 0 ? start : (samples[fullIdx] as ServerSample).t;
  const steadyTo = fullIdx < 0 ? start : lastFullEnd;
  const activeMs = end - start;
  const total = phase(samples, start, end, concurrency);
  const share = (pred: (n: number) => boolean): number => (activeMs > 0 ? timeWhere(samples, start, end, pred) / activeMs : 0);
  return {
    activeMs,
    occupancy: total.occupancy,
    ramp: phase(samples, start, steadyFrom, concurrency),
    steady: phase(samples, steadyFrom, steadyTo, concurrency),
    drain: phase(samples, steadyTo, end, concurrency),
    timeAtOrAbove: {
      full: share((n) => n >= concurrency),
      p95: share((n) => n >= 0.95 * concurrency),
      p75: share((n) => n >= 0.75 * concurrency),
    },
  };
}
