/**
 * Which dead letters `dlq replay` re-publishes: those that match every filter given (`--reason`,
 * `--stage`, `--since`), that no earlier replay re-published, whose record has not come back
 * `maxReplays` times already, and whose source topic still exists. A dead letter left out by a
 * filter is not marked in any way: a later replay with other filters still finds it.
 */
import { WebscaleError } from '../core/errors.js';
import { parseSince } from '../export/index.js';

export interface ReplaySelection {
  /** Error codes (`LLM_CLIENT`, `CODEC`...), upper case; null = any. */
  reasons: ReadonlySet<string> | null;
  /** Stages; null = any. */
  stages: ReadonlySet<string> | null;
  /** Epoch ms: only dead letters created at or after it; null = any age. */
  since: number | null;
  /** Dead letters whose record was replayed this many times already are held back. */
  maxReplays: number;
}

/** What a replay does with one dead letter. */
export const VERDICTS = ['replay', 'replayed', 'held', 'no-source', 'not-selected'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface LetterFacts {
  stage: string;
  error_code: string;
  created_at: number;
  /** From the dead letter's `webscale-rl.replays` header. */
  replays: number;
  /** The replay log holds it. */
  alreadyReplayed: boolean;
  sourceExists: boolean;
}

export function decide(f: LetterFacts, sel: ReplaySelection): Verdict {
  if (sel.reasons && !sel.reasons.has(f.error_code.toUpperCase())) return 'not-selected';
  if (sel.stages && !sel.stages.has(f.stage)) return 'not-selected';
  if (sel.since !== null && f.created_at < sel.since) return 'not-selected';
  if (f.alreadyReplayed) return 'replayed';
  if (f.replays >= sel.maxReplays) return 'held';
  if (!f.sourceExists) return 'no-source';
  return 'replay';
}

/** The selection from the command's flags, checked before anything connects. */
export function selectionFrom(flags: { reason?: readonly string[]; stage?: readonly string[]; since?: string; maxReplays?: number }, defaultMaxReplays: number, now = Date.now()): ReplaySelection {
  const reasons = flags.reason && flags.reason.length > 0 ? new Set(flags.reason.map((r) => r.trim().toUpperCase())) : null;
  for (const r of reasons ?? []) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(r)) throw new WebscaleError('USAGE', `--reason "${r}": expected an error code as dead letters carry it (CODEC, DECODE_LIMITS, LLM_CLIENT...; see \`webscale-rl dlq stats\`)`);
  }
  const stages = flags.stage && flags.stage.length > 0 ? new Set(flags.stage.map((s) => s.trim())) : null;
  return {
    reasons,
    stages,
    since: flags.since === undefined ? null : parseSince(flags.since, now),
    maxReplays: flags.maxReplays ?? defaultMaxReplays,
  };
}
