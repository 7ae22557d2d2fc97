import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decontaminator, decontaminationWords, loadDecontaminator } from '../../src/stages/decontaminate.js';

// Made-up benchmark items (no real benchmark data ships with the project).
const ITEM_A =
  'A gardener plants 14 rows of tulips with 23 bulbs in each row and later gives away 37 bulbs to a neighbour; how many bulbs does the gardener keep in the end?';
const ITEM_B = 'Which fictional island nation in the novel uses seashells carved with owls as its official currency during the long rainy season?';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webscale-decon-'));
  await writeFile(
    join(dir, 'garden-math.jsonl'),
    [JSON.stringify({ question: ITEM_A, answer: '285' }), '', JSON.stringify({ problem: 'x', id: 3 })].join('\n'),
  );
  await writeFile(join(dir, 'island-trivia.jsonl'), `${JSON.stringify({ prompt: ITEM_B, choices: ['A', 'B'] })}\n`);
  await writeFile(join(dir, 'broken.jsonl'), `${JSON.stringify({ question: ITEM_A })}\n{"question": "unterminated\n`);
  await writeFile(join(dir, 'nofields.jsonl'), `${JSON.stringify({ label: 1, answer: 'a b c' })}\n`);
  await writeFile(join(dir, 'array.jsonl'), '[1, 2, 3]\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('normalisation', () => {
  it('lower-cases, deletes punctuation and splits on whitespace', () => {
    expect(decontaminationWords("  State-of-the-Art, isn't it?  ÉTÉ\n“quoted” 3.14 ")).toEqual([
      'stateoftheart',
      'isnt',
      'it',
      'été',
      'quoted',
      '314',
    ]);
  });
});

describe('Decontaminator', () => {
  it('is a no-op with an empty benchmark list', async () => {
    const dec = await loadDecontaminator({ benchmarks: [], ngram: 13 });
    expect(dec.enabled).toBe(false);
    expect(dec.check(ITEM_A)).toEqual({ contaminated: false });
  });

  it('catches a 13-gram match after case and punctuation changes', async () => {
    const dec = await loadDecontaminator({ benchmarks: [join(dir, 'garden-math.jsonl'), join(dir, 'island-trivia.jsonl')], ngram: 13 });
    expect(dec.enabled).toBe(true);
    const question =
      'Spring puzzle: A GARDENER plants 14 rows of tulips -- with 23 bulbs in each row, and later gives away 37 bulbs. What remains?';
    const res = dec.check(question);
    expect(res.contaminated).toBe(true);
    expect(res.benchmark).toBe('garden-math');
    expect(res.ngram?.split(' ')).toHaveLength(13);
    expect(ITEM_A.toLowerCase()).toContain(res.ngram?.split(' ').slice(0, 3).join(' '));

    const trivia = dec.check('Quiz: which FICTIONAL island nation in the novel uses seashells, carved with owls, as its official currency?');
    expect(trivia).toMatchObject({ contaminated: true, benchmark: 'island-trivia' });
  });

  it('does not flag a 12-word overlap', async () => {
    const dec = await loadDecontaminator({ benchmarks: [join(dir, 'garden-math.jsonl')], ngram: 13 });
    // Exactly 12 consecutive words of ITEM_A ("plants 14 rows ... each row and"), then different words.
    const question = 'My neighbour plants 14 rows of tulips with 23 bulbs in each row and then shares some; how many are left?';
    expect(decontaminationWords(question).join(' ')).toContain('plants 14 rows of tulips with 23 bulbs in each row and then');
    expect(decontaminationWords(ITEM_A).join(' ')).toContain('plants 14 rows of tulips with 23 bulbs in each row and later');
    expect(dec.check(question)).toEqual({ contaminated: false });
    // One more shared word makes it 13: caught.
    expect(dec.check('My neighbour plants 14 rows of tulips with 23 bulbs in each row and later shares some.').contaminated).toBe(true);
  });

  it('checks the n-grams that span the question and the answer', () => {
    const dec = new Decontaminator(5);
    dec.add('bench', 'the capital of atlantis is poseidonia city');
    expect(dec.check('What is the capital of atlantis?').contaminated).toBe(false);
    expect(dec.check('The capital of Atlantis is', 'Poseidonia').contaminated).toBe(true);
  });

  it('indexes short benchmark items whole so a verbatim copy is caught', () => {
    const dec = new Decontaminator(13);
    expect(dec.add('short', 'Which planet in our solar system has the most moons today?')).toBe(1);
    expect(dec.check('Quick one: which planet in our solar system has the most moons today?').contaminated).toBe(true);
    expect(dec.check('Which planet in our solar system has the fewest moons?').contaminated).toBe(false);
    // Very short items (under 8 words) are not indexed at all.
    expect(dec.add('short', 'What is two plus two?')).toBe(0);
  });

  it('reports clear CONFIG_INVALID errors for a missing file, a bad line or unusable files', async () => {
    await expect(loadDecontaminator({ benchmarks: [join(dir, 'missing.jsonl')], ngram: 13 })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('missing.jsonl'),
    });
    await expect(loadDecontaminator({ benchmarks: [join(dir, 'broken.jsonl')], ngram: 13 })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/broken\.jsonl, line 2: not valid JSON/),
    });
    await expect(loadDecontaminator({ benchmarks: [join(dir, 'array.jsonl')], ngram: 13 })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/line 1: expected a JSON object/),
    });
    await expect(loadDecontaminator({ benchmarks: [join(dir, 'nofields.jsonl')], ngram: 13 })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('question, prompt, problem'),
    });
  });

  it('keeps memory small: one hashed number per n-gram', () => {
    const dec = new Decontaminator(13);
    const words = Array.from({ length: 20_013 }, (_, i) => `w${i}`).join(' ');
    expect(dec.add('big', words)).toBe(20_001);
    expect(dec.size).toBe(20_001);
    expect(dec.check(Array.from({ length: 13 }, (_, i) => `w${i + 5000}`).join(' ')).contaminated).toBe(true);
    expect(dec.check(Array.from({ length: 13 }, (_, i) => `w${i * 2}`).join(' ')).contaminated).toBe(false);
  });
});
