import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMAINS } from '../../src/core/records.js';
import { mulberry32 } from '../../src/stages/common.js';
import { answerInQuestion, notAQuestion, unseenSourceReference } from '../../src/stages/check.js';
import { FewshotLibrary, loadFewshotLibrary } from '../../src/stages/fewshot.js';
import { defaultFewshotDir } from '../../src/stages/paths.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webscale-fewshot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function line(domain: string | undefined, n: number): string {
  return JSON.stringify({
    original_material: `Material number ${n} about something.`,
    question: `Question ${n}?`,
    answer: `Answer ${n}`,
    ...(domain === undefined ? {} : { domain }),
    persona: 'curious reader',
  });
}

describe('our bundled library', () => {
  it('resolves data/fewshot from the package root', () => {
    expect(defaultFewshotDir()).toMatch(/data[/\\]fewshot$/);
  });

  it('has at least 3 well-formed examples for each of the 10 domains', async () => {
    const lib = await loadFewshotLibrary();
    const counts = lib.counts();
    for (const d of DOMAINS) expect(counts[d], d).toBeGreaterThanOrEqual(3);
    expect(lib.size).toBeGreaterThanOrEqual(30);
    for (const d of DOMAINS) {
      for (const ex of lib.forDomain(d)) {
        expect(ex.original_material.length, ex.id).toBeGreaterThanOrEqual(250);
        expect(ex.original_material.length, ex.id).toBeLessThanOrEqual(1500);
        expect(ex.answer.length, ex.id).toBeLessThanOrEqual(60);
        // Our own examples must obey the rules the check stage enforces.
        expect(answerInQuestion(ex.question, ex.answer), ex.id).toBe(false);
        expect(unseenSourceReference(ex.question), ex.id).toBeNull();
        expect(notAQuestion(ex.question), ex.id).toBeNull();
      }
    }
  });

  it('gives stable ids of the form <domain-slug>/<n>', async () => {
    const lib = await loadFewshotLibrary();
    expect(lib.forDomain('Technology & Engineering').map((e) => e.id)).toEqual([
      'technology_engineering/0',
      'technology_engineering/1',
      'technology_engineering/2',
    ]);
  });
});

describe('loading a user folder', () => {
  it('accepts the reference layout: any *.jsonl whose lines carry a domain', async () => {
    const folder = join(dir, 'reference');
    await mkdir(folder);
    await writeFile(join(folder, 'Math.jsonl'), [line('Math', 1), line('Math', 2)].join('\n'));
    await writeFile(join(folder, 'misc-examples.jsonl'), [line('Technology and Engineering', 3), line('coding', 4)].join('\n') + '\n\n');
    await writeFile(join(folder, 'notes.txt'), 'ignored');
    const lib = await loadFewshotLibrary(folder);
    expect(lib.size).toBe(4);
    expect(lib.counts()).toMatchObject({ Math: 2, 'Technology & Engineering': 1, Coding: 1, Other: 0 });
  });

  it('takes the domain from the file name when lines have none', async () => {
    const folder = join(dir, 'slugs');
    await mkdir(folder);
    await writeFile(join(folder, 'medicine_health.jsonl'), line(undefined, 1));
    const lib = await loadFewshotLibrary(folder);
    expect(lib.forDomain('Medicine & Health').map((e) => e.id)).toEqual(['medicine_health/0']);
  });

  it.each([
    ['bad JSON', '{"question": ', /bad\.jsonl, line 2: not valid JSON/],
    ['missing field', JSON.stringify({ question: 'q', answer: 'a', domain: 'Math', persona: 'p' }), /line 2: field "original_material"/],
    ['unknown domain', line('Astrology', 9), /line 2: unknown domain "Astrology"/],
  ])('names the file and line on %s', async (_name, bad, message) => {
    const folder = await mkdtemp(join(dir, 'bad-'));
    await writeFile(join(folder, 'bad.jsonl'), `${line('Math', 1)}\n${bad}\n`);
    await expect(loadFewshotLibrary(folder)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(message) });
  });

  it('rejects a line without domain in a file whose name is no domain', async () => {
    const folder = await mkdtemp(join(dir, 'nodomain-'));
    await writeFile(join(folder, 'examples.jsonl'), line(undefined, 1));
    await expect(loadFewshotLibrary(folder)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('line 1') });
  });

  it('rejects a missing or empty folder', async () => {
    await expect(loadFewshotLibrary(join(dir, 'nope'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    const empty = await mkdtemp(join(dir, 'empty-'));
    await expect(loadFewshotLibrary(empty)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('no *.jsonl') });
  });
});

describe('sampling', () => {
  const lib = new FewshotLibrary(
    Array.from({ length: 8 }, (_, i) => ({ domain: 'Math' as const, persona: 'p', question: `q${i}`, answer: 'a', original_material: 'm' })),
  );

  it('draws distinct examples, reproducibly for the same seed', () => {
    const a = lib.sample('Math', 3, mulberry32(7)).map((e) => e.id);
    const b = lib.sample('Math', 3, mulberry32(7)).map((e) => e.id);
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(3);
    const draws = new Set(Array.from({ length: 10 }, (_, s) => lib.sample('Math', 3, mulberry32(s)).map((e) => e.id).join()));
    expect(draws.size).toBeGreaterThan(5);
  });

  it('returns what there is when the whole library is smaller than k', () => {
    expect(lib.sample('Coding', 20, mulberry32(1))).toHaveLength(8);
    expect(FewshotLibrary.empty().sample('Math', 2, mulberry32(1))).toEqual([]);
  });
});
