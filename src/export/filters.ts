/**
 * The filters of `export`: by domain, by source language (`provenance.language`) and by age
 * (`created_at` at or after `--since`). Values are checked once, when the command starts: an
 * unknown domain or a time that does not parse is a usage error naming what is accepted, never
 * an export that silently matches nothing.
 */
import { WebscaleError } from '../core/errors.js';
import { DOMAINS, type Domain, type QaRecord } from '../core/records.js';

export interface ExportFilterOptions {
  domain?: readonly string[];
  language?: readonly string[];
  since?: string;
}

export type RecordFilter = (record: QaRecord) => boolean;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `--since`: an ISO 8601 time (`2026-11-29`, `2026-11-29T12:00:00Z`; without a zone it is UTC
 * for a date alone and local time with a clock, as JavaScript's Date reads it), or a duration
 * back from `now` (`90s`, `30m`, `24h`, `7d`, `2w`). Returns epoch ms.
 */
export function parseSince(value: string, now: number = Date.now()): number {
  const text = value.trim();
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text);
  if (duration) return now - Math.round(Number(duration[1]) * (UNIT_MS[duration[2] ?? 'ms'] ?? 1));
  const time = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new WebscaleError('USAGE', `--since "${value}": expected an ISO 8601 time (2026-11-29, 2026-11-29T12:00:00Z) or a duration such as 30m, 24h, 7d`);
  }
  return time;
}

/** Canonical domain names for what the user typed, case-insensitively. */
export function parseDomains(values: readonly string[]): Set<Domain> {
  const byLower = new Map(DOMAINS.map((d) => [d.toLowerCase(), d] as const));
  const out = new Set<Domain>();
  for (const v of values) {
    const domain = byLower.get(v.trim().toLowerCase());
    if (!domain) throw new WebscaleError('USAGE', `--domain "${v}": expected one of ${DOMAINS.map((d) => `"${d}"`).join(', ')}`);
    out.add(domain);
  }
  return out;
}

/** ISO 639-1 codes, lower-cased (`EN` matches a record's `en`). */
export function parseLanguages(values: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const v of values) {
    const code = v.trim().toLowerCase();
    if (!/^[a-z]{2,3}$/.test(code)) throw new WebscaleError('USAGE', `--language "${v}": expected an ISO 639-1 code such as en, de, zh`);
    out.add(code);
  }
  return out;
}

/** One predicate for all filters given (a record passes when it matches every one). */
export function compileFilter(opts: ExportFilterOptions, now: number = Date.now()): RecordFilter {
  const checks: RecordFilter[] = [];
  if (opts.domain && opts.domain.length > 0) {
    const domains = parseDomains(opts.domain);
    checks.push((r) => domains.has(r.domain));
  }
  if (opts.language && opts.language.length > 0) {
    const languages = parseLanguages(opts.language);
    // A record whose language is unknown matches no --language.
    checks.push((r) => typeof r.provenance.language === 'string' && languages.has(r.provenance.language.toLowerCase()));
  }
  if (opts.since !== undefined) {
    const since = parseSince(opts.since, now);
    checks.push((r) => r.created_at >= since);
  }
  return (r) => checks.every((check) => check(r));
}

export function hasFilters(opts: ExportFilterOptions): boolean {
  return (opts.domain?.length ?? 0) > 0 || (opts.language?.length ?? 0) > 0 || opts.since !== undefined;
}
