/**
 * Counting dead letters by (stage, reason) for `dlq stats` and the report of `dlq replay`, and
 * printing the counts as one aligned line per group (or as JSON). The number of groups is the
 * number of distinct stages times error codes, so memory does not grow with the DLQ.
 */
import type { Verdict } from './select.js';

export interface StatsGroup {
  stage: string;
  reason: string;
  dead_letters: number;
  /** Re-published by an earlier `dlq replay` (the replay log holds them). */
  replayed: number;
  /** Not replayed yet. */
  pending: number;
  /** Pending, but their record already came back `maxReplays` times: a replay holds them back. */
  held: number;
  /** Dead letters of records that were themselves replayed (replay count >= 1): loops show here. */
  from_replays: number;
  oldest_created_at: number;
  newest_created_at: number;
  /** Dead letters by age when counted: up to an hour, a day, a week old, and older. */
  by_age: Record<AgeBucket, number>;
}

export const AGE_BUCKETS = [
  ['1h', 3_600_000],
  ['1d', 86_400_000],
  ['7d', 7 * 86_400_000],
  ['older', Number.POSITIVE_INFINITY],
] as const;
export type AgeBucket = (typeof AGE_BUCKETS)[number][0];

function ageBucket(ageMs: number): AgeBucket {
  for (const [name, upTo] of AGE_BUCKETS) if (ageMs <= upTo) return name;
  return 'older';
}

export interface ReplayGroup {
  stage: string;
  reason: string;
  /** Re-published by this run (with --dry-run: would be). */
  replay: number;
  /** Skipped: an earlier replay re-published them. */
  replayed: number;
  held: number;
  /** Skipped: their source topic does not exist (any more). */
  no_source: number;
  /** Left for another replay: --reason, --stage or --since did not select them. */
  not_selected: number;
}

const key = (stage: string, reason: string): string => `${stage}\u0000${reason}`;

function sorted<T extends { stage: string; reason: string }>(groups: Iterable<T>): T[] {
  return [...groups].sort((a, b) => a.stage.localeCompare(b.stage) || a.reason.localeCompare(b.reason));
}

export class StatsTally {
  private readonly groups = new Map<string, StatsGroup>();
  unreadable = 0;

  constructor(private readonly now: number = Date.now()) {}

  add(l: { stage: string; error_code: string; created_at: number }, replays: number, replayed: boolean, held: boolean): void {
    let g = this.groups.get(key(l.stage, l.error_code));
    if (!g) {
      g = {
        stage: l.stage,
        reason: l.error_code,
        dead_letters: 0,
        replayed: 0,
        pending: 0,
        held: 0,
        from_replays: 0,
        oldest_created_at: l.created_at,
        newest_created_at: l.created_at,
        by_age: { '1h': 0, '1d': 0, '7d': 0, older: 0 },
      };
      this.groups.set(key(l.stage, l.error_code), g);
    }
    g.dead_letters++;
    if (replayed) g.replayed++;
    else g.pending++;
    if (!replayed && held) g.held++;
    if (replays > 0) g.from_replays++;
    g.by_age[ageBucket(this.now - l.created_at)]++;
    g.oldest_created_at = Math.min(g.oldest_created_at, l.created_at);
    g.newest_created_at = Math.max(g.newest_created_at, l.created_at);
  }

  list(): StatsGroup[] {
    return sorted(this.groups.values());
  }
}

export class ReplayTally {
  private readonly groups = new Map<string, ReplayGroup>();
  /** Records re-published (or to be) per source topic. */
  readonly targets = new Map<string, number>();
  unreadable = 0;

  add(stage: string, reason: string, verdict: Verdict, target?: string): void {
    let g = this.groups.get(key(stage, reason));
    if (!g) this.groups.set(key(stage, reason), (g = { stage, reason, replay: 0, replayed: 0, held: 0, no_source: 0, not_selected: 0 }));
    switch (verdict) {
      case 'replay':
        g.replay++;
        if (target !== undefined) this.targets.set(target, (this.targets.get(target) ?? 0) + 1);
        break;
      case 'replayed':
        g.replayed++;
        break;
      case 'held':
        g.held++;
        break;
      case 'no-source':
        g.no_source++;
        break;
      case 'not-selected':
        g.not_selected++;
        break;
    }
  }

  /** Takes back replays of a transaction that did not commit (an interrupted or failed run). */
  unreplay(stage: string, reason: string, target: string): void {
    const g = this.groups.get(key(stage, reason));
    if (g) g.replay--;
    this.targets.set(target, (this.targets.get(target) ?? 1) - 1);
  }

  list(): ReplayGroup[] {
    return sorted(this.groups.values());
  }

  total(field: Exclude<keyof ReplayGroup, 'stage' | 'reason'>): number {
    let n = 0;
    for (const g of this.groups.values()) n += g[field];
    return n;
  }
}

/** An age in words a person reads at a glance: `45s`, `12m 5s`, `3h 20m`, `4d 2h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (cells: readonly (string | number)[]): string =>
    cells
      .map((c, i) => (numeric[i] ? String(c).padStart(widths[i] ?? 0) : String(c).padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function statsLines(groups: readonly StatsGroup[], now: number): string[] {
  const rows = groups.map((g) => [
    g.stage,
    g.reason,
    g.dead_letters,
    g.pending,
    g.replayed,
    g.held,
    g.from_replays,
    ...AGE_BUCKETS.map(([name]) => g.by_age[name]),
    formatAge(now - g.oldest_created_at),
    formatAge(now - g.newest_created_at),
  ]);
  const ageColumns = AGE_BUCKETS.map(([name]) => (name === 'older' ? 'older' : `<=${name}`));
  return formatTable(['stage', 'reason', 'dead_letters', 'pending', 'replayed', 'held', 'from_replays', ...ageColumns, 'oldest', 'newest'], rows);
}

export function replayLines(groups: readonly ReplayGroup[], dryRun: boolean): string[] {
  const rows = groups.map((g) => [g.stage, g.reason, g.replay, g.replayed, g.held, g.no_source, g.not_selected]);
  return formatTable(['stage', 'reason', dryRun ? 'would_replay' : 'replayed_now', 'replayed_before', 'held', 'no_source', 'not_selected'], rows);
}
