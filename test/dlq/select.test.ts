import { describe, expect, it } from 'vitest';
import { isWebscaleError } from '../../src/core/errors.js';
import { REPLAYED_FROM_HEADER, REPLAYS_HEADER, replayHeaders, replaysOf } from '../../src/dlq/replay-log.js';
import { decide, selectionFrom, type LetterFacts } from '../../src/dlq/select.js';
import { formatAge, formatTable, replayLines, statsLines, StatsTally } from '../../src/dlq/tally.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const facts = (over: Partial<LetterFacts> = {}): LetterFacts => ({
  stage: 'check',
  error_code: 'LLM_CLIENT',
  created_at: NOW - 60_000,
  replays: 0,
  alreadyReplayed: false,
  sourceExists: true,
  ...over,
});

describe('which dead letters a replay takes', () => {
  const all = selectionFrom({}, 3, NOW);

  it('replays a fresh dead letter and skips one the log holds', () => {
    expect(decide(facts(), all)).toBe('replay');
    expect(decide(facts({ alreadyReplayed: true }), all)).toBe('replayed');
  });

  it('holds back a record that came back maxReplays times, and skips a missing source', () => {
    expect(decide(facts({ replays: 2 }), all)).toBe('replay');
    expect(decide(facts({ replays: 3 }), all)).toBe('held');
    expect(decide(facts({ replays: 3 }), selectionFrom({ maxReplays: 4 }, 3, NOW))).toBe('replay');
    expect(decide(facts({ sourceExists: false }), all)).toBe('no-source');
  });

  it('--reason (any case), --stage and --since select; what they leave out is only "not selected"', () => {
    const sel = selectionFrom({ reason: ['llm_client', 'CODEC'], stage: ['check'], since: '2026-11-30T11:30:00Z' }, 3, NOW);
    expect(decide(facts(), sel)).toBe('replay');
    expect(decide(facts({ error_code: 'CODEC' }), sel)).toBe('replay');
    expect(decide(facts({ error_code: 'LLM_SERVER' }), sel)).toBe('not-selected');
    expect(decide(facts({ stage: 'generate' }), sel)).toBe('not-selected');
    expect(decide(facts({ created_at: NOW - 3_600_000 }), sel)).toBe('not-selected');
    // Left out by a filter even when already replayed: the report counts it as not selected.
    expect(decide(facts({ stage: 'generate', alreadyReplayed: true }), sel)).toBe('not-selected');
    expect(selectionFrom({ since: '30m' }, 3, NOW).since).toBe(NOW - 1_800_000);
  });

  it('refuses a --since or --reason it cannot read, naming what is accepted', () => {
    for (const flags of [{ since: 'yesterday' }, { reason: ['llm client'] }]) {
      let err: unknown;
      try {
        selectionFrom(flags, 3, NOW);
      } catch (e) {
        err = e;
      }
      expect(isWebscaleError(err, 'USAGE'), String(err)).toBe(true);
    }
  });
});

describe('replay headers', () => {
  it('counts replays from the header, 0 without it or when garbled', () => {
    expect(replaysOf(undefined)).toBe(0);
    expect(replaysOf({ [REPLAYS_HEADER]: Buffer.from('2') })).toBe(2);
    expect(replaysOf({ [REPLAYS_HEADER]: '5' })).toBe(5);
    expect(replaysOf({ [REPLAYS_HEADER]: Buffer.from('x') })).toBe(0);
    expect(replaysOf({ [REPLAYS_HEADER]: [Buffer.from('1'), Buffer.from('4')] })).toBe(4);
  });

  it('keeps the original headers and sets the count and the dead letter it came from', () => {
    const h = replayHeaders({ trace: Buffer.from('abc'), [REPLAYS_HEADER]: Buffer.from('1') }, 2, 'p.dlq/1@7');
    expect(h).toEqual({ trace: Buffer.from('abc'), [REPLAYS_HEADER]: '2', [REPLAYED_FROM_HEADER]: 'p.dlq/1@7' });
  });
});

describe('tables', () => {
  it('ages read at a glance', () => {
    expect(formatAge(45_000)).toBe('45s');
    expect(formatAge(12 * 60_000 + 5000)).toBe('12m 5s');
    expect(formatAge(3 * 3_600_000 + 20 * 60_000)).toBe('3h 20m');
    expect(formatAge(4 * 86_400_000 + 2 * 3_600_000)).toBe('4d 2h');
  });

  it('stats: one line per stage and reason, counts right-aligned, age range', () => {
    const t = new StatsTally(NOW);
    t.add({ stage: 'check', error_code: 'LLM_CLIENT', created_at: NOW - 7_200_000 }, 0, true, false);
    t.add({ stage: 'check', error_code: 'LLM_CLIENT', created_at: NOW - 60_000 }, 1, false, false);
    t.add({ stage: 'check', error_code: 'LLM_CLIENT', created_at: NOW - 9 * 86_400_000 }, 0, false, false);
    t.add({ stage: 'filter', error_code: 'CODEC', created_at: NOW - 5000 }, 3, false, true);
    const lines = statsLines(t.list(), NOW);
    expect(lines).toEqual([
      'stage   reason      dead_letters  pending  replayed  held  from_replays  <=1h  <=1d  <=7d  older  oldest  newest',
      'check   LLM_CLIENT             3        2         1     0             1     1     1     0      1  9d 0h   1m 0s',
      'filter  CODEC                  1        1         0     1             1     1     0     0      0  5s      5s',
    ]);
    expect(t.list()[0]?.by_age).toEqual({ '1h': 1, '1d': 1, '7d': 0, older: 1 });
    expect(formatTable(['a'], [])).toEqual(['a']);
    expect(replayLines([{ stage: 'check', reason: 'CODEC', replay: 1, replayed: 0, held: 2, no_source: 0, not_selected: 3 }], true)[0]).toContain('would_replay');
  });
});
