import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { detectLanguage, primaryLanguage } from '../../src/text/index.js';
import { LONG_DOCS } from './multilingual.js';

/** Our own sample: 38 sentences in 24 languages, two topics, written for this test. */
const SAMPLE = readFileSync(new URL('./language-sample.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { lang: string; text: string });

describe('language identification (fastText lid.176 in WebAssembly)', () => {
  it('names the language of at least 95% of a multilingual sample of single sentences', async () => {
    const wrong: string[] = [];
    for (const { lang, text } of SAMPLE) {
      const got = await detectLanguage(text, 0);
      if (got.language !== lang) wrong.push(`${lang} -> ${String(got.language)} (${got.confidence.toFixed(2)})`);
    }
    expect(SAMPLE.length).toBeGreaterThanOrEqual(38);
    expect(new Set(SAMPLE.map((s) => s.lang)).size).toBeGreaterThanOrEqual(20);
    expect((SAMPLE.length - wrong.length) / SAMPLE.length, wrong.join('; ')).toBeGreaterThanOrEqual(0.95);
  });

  it('names the multi-line test documents with high confidence', async () => {
    for (const [lang, text] of Object.entries(LONG_DOCS)) {
      const got = await detectLanguage(text, 0.5);
      expect(got.language, lang).toBe(lang);
      expect(got.confidence).toBeGreaterThan(0.8);
    }
  });

  it('leaves the language unknown below the confidence bar, and for text with no words', async () => {
    const got = await detectLanguage('ok 123', 0.99);
    expect(got.language).toBeNull();
    expect(got.best).not.toBe('');
    expect(await detectLanguage('   \n  ', 0.5)).toEqual({ language: null, confidence: 0, best: 'none' });
  });

  it('answers for binary junk, NULs and lone surrogates without throwing', async () => {
    const junk = Array.from({ length: 5000 }, (_, i) => String.fromCharCode(i % 7 === 0 ? 0 : (i * 7919) % 0xd7ff)).join('');
    const surrogates = '\ud800\ud800\udfff'.repeat(100);
    for (const text of [junk, surrogates, `${junk}\ud800`]) {
      const got = await detectLanguage(text, 0.5);
      expect(got.confidence).toBeGreaterThanOrEqual(0);
      expect(got.confidence).toBeLessThanOrEqual(1);
    }
  });

  it('reads a bounded prefix of a huge document', async () => {
    const huge = `${'The committee met on Tuesday and approved the budget for the new bridge. '.repeat(200)}${'x'.repeat(5_000_000)}`;
    const started = performance.now();
    const got = await detectLanguage(huge, 0.5);
    expect(got.language).toBe('en');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('compares language tags by their primary subtag', () => {
    expect(primaryLanguage('en-US')).toBe('en');
    expect(primaryLanguage('ZH_Hant')).toBe('zh');
    expect(primaryLanguage('eng,deu')).toBe('eng');
  });
});
