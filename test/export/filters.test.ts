/** The export filters: domain, language, since; bad values are usage errors up front. */
import { describe, expect, it } from 'vitest';
import { isWebscaleError } from '../../src/core/errors.js';
import { compileFilter, parseSince } from '../../src/export/index.js';
import { qaRecords } from './records.js';

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const records = qaRecords(30, NOW);

function usage(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isWebscaleError(err, 'USAGE');
  }
}

describe('parseSince', () => {
  it('durations back from now', () => {
    expect(parseSince('24h', NOW)).toBe(NOW - 24 * 3_600_000);
    expect(parseSince('7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseSince('90s', NOW)).toBe(NOW - 90_000);
    expect(parseSince('1.5h', NOW)).toBe(NOW - 5_400_000);
    expect(parseSince('2w', NOW)).toBe(NOW - 14 * 86_400_000);
  });

  it('ISO times; a date alone is UTC midnight', () => {
    expect(parseSince('2026-11-29T10:30:00Z')).toBe(Date.UTC(2026, 10, 29, 10, 30));
    expect(parseSince('2026-11-29T10:30:00+02:00')).toBe(Date.UTC(2026, 10, 29, 8, 30));
    expect(parseSince('2026-11-29')).toBe(Date.UTC(2026, 10, 29));
  });

  it('anything else is a usage error', () => {
    for (const bad of ['yesterday', '24', 'h', '-5h', '2026-13-45', '29/11/2026', '']) expect(usage(() => parseSince(bad, NOW)), bad).toBe(true);
  });
});

describe('compileFilter', () => {
  it('no filters keeps everything', () => {
    expect(records.filter(compileFilter({}, NOW))).toHaveLength(30);
  });

  it('--domain matches canonical names case-insensitively', () => {
    const kept = records.filter(compileFilter({ domain: ['math', 'Natural Science'] }, NOW));
    expect(new Set(kept.map((r) => r.domain))).toEqual(new Set(['Math', 'Natural Science']));
    expect(kept).toHaveLength(6);
    expect(usage(() => compileFilter({ domain: ['Astrology'] }))).toBe(true);
  });

  it('--language matches provenance.language; unknown languages match none', () => {
    const kept = records.filter(compileFilter({ language: ['EN'] }, NOW));
    expect(kept.length).toBe(10);
    expect(kept.every((r) => r.provenance.language === 'en')).toBe(true);
    expect(records.filter(compileFilter({ language: ['en', 'de'] }, NOW))).toHaveLength(20);
    expect(usage(() => compileFilter({ language: ['english!'] }))).toBe(true);
  });

  it('--since keeps created_at at or after the time', () => {
    // created 0, 1, ..., 29 hours before NOW
    expect(records.filter(compileFilter({ since: '5h' }, NOW)).map((r) => r.id)).toEqual(['qa-0', 'qa-1', 'qa-2', 'qa-3', 'qa-4', 'qa-5']);
  });

  it('filters combine', () => {
    const kept = records.filter(compileFilter({ domain: ['Math', 'Coding'], language: ['en', 'de'], since: '15h' }, NOW));
    // Math 0, 10, 20 and Coding 2, 12, 22; language en/de (i % 3 != 2): 0, 10, 12, 22; within 15 h: 0, 10, 12
    expect(kept.map((r) => r.id)).toEqual(['qa-0', 'qa-10', 'qa-12']);
  });
});
