import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProgressDisplay, formatSummary, progressLine, stageSentences, utilisation } from '../../src/cli/summary.js';
import { RunStats } from '../../src/runtime/stats.js';
import type { Rejection } from '../../src/core/records.js';

function rejection(reason: Rejection['reason'], stage: Rejection['stage']): Rejection {
  return { doc_id: 'd', stage, reason, detail: '', persona: null, line: null, usage: { prompt_tokens: 0, completion_tokens: 0 }, created_at: 0 };
}

function sampleStats(): RunStats {
  const s = new RunStats();
  s.documentsRead = 10;
  s.documentsDone = 8;
  s.documentsWithQa = 3;
  s.qaKept = 5;
  s.stages.filter = { in: 9, out: 6, rejected: 3, llm_failed: 1 };
  s.stages.check = { in: 8, out: 5, rejected: 3, llm_failed: 0 };
  s.recordRejection(rejection('input.invalid_json', 'input'));
  for (let i = 0; i < 3; i++) s.recordRejection(rejection('check.leakage', 'check'));
  s.recordRejection(rejection('filter.too_short', 'filter'));
  s.recordCall('generate', { prompt_tokens: 100, completion_tokens: 20 });
  s.recordCall('generate', { prompt_tokens: 50, completion_tokens: 10 });
  return s;
}

describe('run summary', () => {
  it('says the in and out of each stage in words, in the units that stage counts', () => {
    const s = new RunStats();
    s.stages.dedup = { in: 7, out: 6, rejected: 1, llm_failed: 0 };
    s.stages.filter = { in: 6, out: 1, rejected: 5, llm_failed: 0 };
    s.stages.identify = { in: 1, out: 3, rejected: 0, llm_failed: 0 };
    s.stages.generate = { in: 3, out: 2, rejected: 1, llm_failed: 1 };
    s.stages.check = { in: 2, out: 1, rejected: 1, llm_failed: 0 };
    expect(stageSentences(s)).toEqual([
      'dedup: 7 documents in, 6 kept as unique, 1 rejected as copies',
      'filter: 6 documents in, 1 passed, 5 rejected',
      'identify: 1 document in, 3 persona tasks out (one task per persona identified for a document, so out can exceed in), 0 documents rejected',
      'generate: 3 persona tasks in, 2 question-answer candidates out, 1 rejected',
      'check: 2 candidates in, 1 QA pair kept, 1 rejected',
    ]);
    const text = formatSummary(s, { utilisation: null, interrupted: false });
    expect(text).toContain('in words:\n  dedup: 7 documents in');
  });

  it('reports counts per stage, reasons by frequency, verification rate and tokens', () => {
    const text = formatSummary(sampleStats(), { utilisation: 0.5, interrupted: false });
    expect(text).toContain('documents: 10 read, 1 rejected at input, 3 yielded QA; QA pairs kept: 5');
    expect(text).toMatch(/filter\s+9\s+6\s+4\s+\(1\)/); // 3 set + 1 recorded
    expect(text).toContain('verification rate (check passed / checked): 62.5%');
    const reasons = text.slice(text.indexOf('rejections by reason'));
    expect(reasons.indexOf('check.leakage')).toBeLessThan(reasons.indexOf('filter.too_short'));
    expect(text).toContain('LLM: 2 calls, 150 prompt + 30 completion tokens');
    expect(text).toContain('LLM utilisation: 50.0%');
  });

  it('says how many documents an interrupted run left unfinished', () => {
    expect(formatSummary(sampleStats(), { utilisation: null, interrupted: true })).toContain('interrupted: 2 documents were not finished');
  });

  it('keeps a machine-readable summary', () => {
    const json = sampleStats().toJSON() as { rejections_by_reason: Record<string, number>; verification_rate: number };
    expect(json.rejections_by_reason).toEqual({ 'check.leakage': 3, 'filter.too_short': 1, 'input.invalid_json': 1 });
    expect(json.verification_rate).toBeCloseTo(0.625);
  });

  it('computes utilisation as busy time over wall x concurrency', () => {
    expect(utilisation({ calls: 10, busyMs: 2000, concurrency: 4 }, 1000)).toBe(0.5);
    expect(utilisation({ calls: 0, busyMs: 0, concurrency: 4 }, 0)).toBeNull();
  });
});

describe('progress line', () => {
  it('shows documents, QA, top reasons, tokens, calls in flight and an ETA from bytes', () => {
    const s = sampleStats();
    s.bytesDone = 500;
    const line = progressLine(s, 1000, 7);
    expect(line).toMatch(/^docs 8\/10 \| qa 5 \| rejected check.leakage 3, /);
    expect(line).toContain('tokens 180');
    expect(line).toContain('llm 7 in flight');
    expect(line).toMatch(/eta \d+s$/);
  });

  it('redraws one line on a TTY; elsewhere writes plain lines at the interval, none at 0', async () => {
    const plain = Object.assign(new PassThrough(), { isTTY: false });
    const chunks: string[] = [];
    plain.on('data', (d: Buffer) => chunks.push(d.toString()));
    const off = new ProgressDisplay(plain, () => 'hello');
    off.start(0, 5);
    await new Promise((r) => setTimeout(r, 30));
    off.stop();
    expect(chunks).toEqual([]);

    const lines = new ProgressDisplay(plain, () => 'hello', () => 61_000);
    lines.start(5);
    await new Promise((r) => setTimeout(r, 40));
    lines.stop();
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    for (const c of chunks) expect(c).toBe('progress 1m01s: hello\n');

    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    const drawn: string[] = [];
    tty.on('data', (d: Buffer) => drawn.push(d.toString()));
    const live = new ProgressDisplay(tty, () => 'hello');
    // On a TTY the line is redrawn whatever the interval of plain lines, 0 included.
    live.start(0, 5);
    await new Promise((r) => setTimeout(r, 30));
    live.stop();
    expect(drawn.join('')).toContain('hello');
  });
});
