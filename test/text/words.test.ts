import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countWords, hasNoSpaceScript, wordList, wordsOf } from '../../src/text/index.js';
import { LONG_DOCS, SHORT_DOCS } from './multilingual.js';

const SAMPLE = readFileSync(new URL('./language-sample.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { lang: string; text: string });

/** Words as ICU alone counts them: the reference the fast path must agree with. */
function icuWords(text: string): string[] {
  const seg = new Intl.Segmenter(undefined, { granularity: 'word' });
  return [...seg.segment(text)].filter((s) => s.isWordLike).map((s) => s.segment);
}

const whitespaceTokens = (text: string): number => text.split(/\s+/).filter((t) => t !== '').length;

describe('words by script', () => {
  it('splits Chinese, Japanese and Thai into words where whitespace sees one token per line', () => {
    expect(wordList('长江是中国第一长河')).toEqual(icuWords('长江是中国第一长河'));
    expect(wordList('长江是中国第一长河').length).toBeGreaterThanOrEqual(4);
    expect(wordList('富士山は日本で最も高い山です。').length).toBeGreaterThanOrEqual(6);
    expect(wordList('แม่น้ำเจ้าพระยาเป็นแม่น้ำสายสำคัญ').length).toBeGreaterThanOrEqual(4);
    for (const [lang, doc] of Object.entries(LONG_DOCS)) {
      expect(countWords(doc), lang).toBeGreaterThanOrEqual(50);
    }
    // The whitespace count these scripts used to get: far under the 50-token minimum.
    for (const lang of ['zh', 'ja', 'th'] as const) expect(whitespaceTokens(LONG_DOCS[lang]), lang).toBeLessThan(20);
  });

  it('agrees with Intl.Segmenter alone on every sentence of the multilingual sample', () => {
    for (const { lang, text } of [...SAMPLE, ...Object.entries(LONG_DOCS).map(([lang, text]) => ({ lang, text }))]) {
      const ours = wordList(text).length;
      const icu = icuWords(text).length;
      // Within 3%: ICU splits "l'acqua" and a few joins differently; the counts are what rules use.
      expect(Math.abs(ours - icu) / icu, `${lang}: ${ours} vs ${icu}`).toBeLessThanOrEqual(0.03);
    }
  });

  it('keeps Arabic, Hindi and English words whole, with numbers and contractions', () => {
    expect(wordList('نهر النيل أطول أنهار العالم.')).toEqual(['نهر', 'النيل', 'أطول', 'أنهار', 'العالم']);
    expect(wordList('गंगा नदी भारत की नदी है।')).toEqual(['गंगा', 'नदी', 'भारत', 'की', 'नदी', 'है']);
    expect(wordList("It's 3.14, not 1,000 (U.S. data).")).toEqual(["It's", '3.14', 'not', '1,000', 'U.S', 'data']);
  });

  it('counts no further than asked and reads only the bounded prefix', () => {
    const huge = '长江是中国第一长河。'.repeat(100_000); // a million characters
    const started = performance.now();
    expect(countWords(huge, 50)).toBe(50);
    expect(countWords(huge, Number.POSITIVE_INFINITY, 1000)).toBeLessThan(1000);
    expect(performance.now() - started).toBeLessThan(2000);
    const positions = [...wordsOf('ab 长江是中国 cd')].map((w) => w.index);
    expect(positions[0]).toBe(0);
    expect(positions.at(-1)).toBe('ab 长江是中国 '.length);
  });

  it('never cuts a surrogate pair when it splits a long run for ICU', () => {
    const run = '𠀀'.repeat(1000); // astral Han characters: two UTF-16 units each
    // String.prototype.isWellFormed is Node 20's, newer than the compile target's lib.
    for (const w of wordList(run)) expect((w as unknown as { isWellFormed(): boolean }).isWellFormed()).toBe(true);
  });

  it('tells scripts written without spaces', () => {
    expect(hasNoSpaceScript('abc 长江')).toBe(true);
    expect(hasNoSpaceScript(SHORT_DOCS.th ?? '')).toBe(true);
    expect(hasNoSpaceScript(SHORT_DOCS.ar ?? '')).toBe(false);
  });
});
