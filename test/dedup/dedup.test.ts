/**
 * The dedup core without Kafka: normal form, words in unspaced scripts, MinHash estimates, the
 * bounded index, and the stage on a corpus with planted exact and near duplicates (recall and
 * false positives), plus the embedded run through the real CLI.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import type { DocumentRecord, Rejection } from '../../src/core/records.js';
import {
  DedupIndex,
  LocalDedup,
  dedupParams,
  estimatedJaccard,
  fingerprintOf,
  matchProbability,
  minhashSignature,
  normaliseText,
  schemeOf,
  wordsOf,
} from '../../src/dedup/index.js';
import { dedupStage } from '../../src/stages/dedup.js';
import type { StageContext } from '../../src/stages/types.js';
import { plantedCorpus, scoreDedup, textJaccard } from '../../bench/dedup-corpus.js';

const config = configSchema.parse({ logLevel: 'silent' });
const params = dedupParams(config.pipeline.dedup);

function doc(id: string, text: string): DocumentRecord {
  return { id, text, url: null, source: null, ingested_at: 0 };
}

/** Runs documents through the dedup stage in order; returns the rejections by document id. */
async function dedupAll(docs: readonly { id: string; text: string }[], dedup = new LocalDedup(config.pipeline.dedup)): Promise<Map<string, Rejection>> {
  const ctx = { config, dedup } as unknown as StageContext;
  const rejected = new Map<string, Rejection>();
  for (const d of docs) {
    const r = await dedupStage(doc(d.id, d.text), ctx);
    for (const x of r.rejections) rejected.set(x.doc_id, x);
    expect(r.outputs.length + r.rejections.length).toBe(1);
  }
  return rejected;
}

describe('normal form and words', () => {
  it('erases case, spacing and Unicode width', () => {
    expect(normaliseText('  Ｈｅｌｌｏ\u00a0 WORLD\n\tagain ')).toBe('hello world again');
  });

  it('collapses every whitespace run to one space, whatever its make-up (against the plain rule)', () => {
    const alphabet = [' ', '\n', '\t', '\r', '\f', '\v', '\u00a0', '\u2028', '\u3000', '\u2009', 'a', 'B'];
    let seed = 7;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % alphabet.length;
    for (let i = 0; i < 5000; i++) {
      let s = '';
      for (let j = 0; j < 14; j++) s += alphabet[next()];
      expect(normaliseText(s)).toBe(s.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim());
    }
  });

  it('gives the same words whether or not the text has runs in unspaced scripts', () => {
    const spaced = "don't stop: 3.14, the end — مرحبا بالعالم";
    expect(wordsOf(`${spaced} 植物利用阳光`)).toEqual([...wordsOf(spaced), '植物', '利用', '阳光']);
  });

  it('splits Chinese, Japanese and Thai into words, and spaced scripts by letters', () => {
    expect(wordsOf(normaliseText('植物利用阳光制造养分。'))).toEqual(['植物', '利用', '阳光', '制造', '养分']);
    expect(wordsOf('東京は日本の首都です').length).toBeGreaterThanOrEqual(5);
    expect(wordsOf('ภาษาไทยเขียนติดกัน').length).toBeGreaterThanOrEqual(3);
    expect(wordsOf("don't stop: 3.14, the end — مرحبا بالعالم")).toEqual(["don't", 'stop', '3.14', 'the', 'end', 'مرحبا', 'بالعالم']);
  });
});

describe('MinHash', () => {
  it('estimates the Jaccard similarity of planted copies within a few points', () => {
    const corpus = plantedCorpus({ seed: 11, distinct: 40, exact: 0, near: 10, jaccards: [0.5, 0.8], prefix: 'mh' });
    const byId = new Map(corpus.docs.map((d) => [d.id, d.text]));
    let totalError = 0;
    for (const p of corpus.pairs) {
      const a = minhashSignature(wordsOf(normaliseText(byId.get(p.original) ?? '')), params);
      const b = minhashSignature(wordsOf(normaliseText(byId.get(p.copy) ?? '')), params);
      if (a === null || b === null) throw new Error('no words');
      const est = estimatedJaccard(a, b);
      // 112 hash functions: standard error sqrt(J(1-J)/112) <= 0.047.
      expect(Math.abs(est - p.jaccard)).toBeLessThan(0.16);
      totalError += est - p.jaccard;
    }
    // Unbiased: the errors average out.
    expect(Math.abs(totalError / corpus.pairs.length)).toBeLessThan(0.04);
  });

  it.each(['one-permutation', 'k-permutation'] as const)('%s hashing stays unbiased on short documents, where most one-permutation bins start empty', (hashing) => {
    // 40-100 words: 36-96 five-grams for 112 bins, so densification fills a third to two thirds of them.
    const corpus = plantedCorpus({ seed: 5, distinct: 400, exact: 0, near: 60, jaccards: [0.5, 0.7, 0.9], prefix: 'short', minWords: 40, maxWords: 100 });
    const byId = new Map(corpus.docs.map((d) => [d.id, d.text]));
    const p = { ...params, hashing };
    let sum = 0;
    let sumSq = 0;
    for (const pair of corpus.pairs) {
      const a = minhashSignature(wordsOf(normaliseText(byId.get(pair.original) ?? '')), p);
      const b = minhashSignature(wordsOf(normaliseText(byId.get(pair.copy) ?? '')), p);
      if (a === null || b === null) throw new Error('no words');
      const err = estimatedJaccard(a, b) - pair.jaccard;
      sum += err;
      sumSq += err * err;
    }
    const n = corpus.pairs.length;
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    // k-permutation's standard error at these similarities is at most 0.047.
    expect(Math.sqrt(sumSq / n)).toBeLessThan(0.07);
  });

  it('one-permutation hashing on short documents: recall >= 0.95 at Jaccard >= 0.85, false positives <= 1%', async () => {
    expect(config.pipeline.dedup.hashing).toBe('one-permutation');
    const corpus = plantedCorpus({ seed: 9, distinct: 3000, exact: 0, near: 150, jaccards: [0.85, 0.9, 0.95], prefix: 'oph-short', minWords: 50, maxWords: 120 });
    const rejected = await dedupAll(corpus.docs);
    const score = scoreDedup(corpus, new Map([...rejected].map(([id, r]) => [id, String(r.duplicate_of)])));
    expect(score.recall).toBeGreaterThanOrEqual(0.95);
    expect(score.falsePositiveRate).toBeLessThanOrEqual(0.01);
  });

  it('names the two hashings apart, so their band keys are never compared', () => {
    expect(schemeOf(params)).toBe('oph-w5-b14r8-s0');
    // The name k-permutation indexes had before there was a choice.
    expect(schemeOf({ ...params, hashing: 'k-permutation' })).toBe('minhash-w5-b14r8-s0');
  });

  it('follows the LSH S-curve of 14 bands x 8 rows', () => {
    expect(matchProbability(0.8, params)).toBeCloseTo(0.924, 2);
    expect(matchProbability(0.85, params)).toBeGreaterThan(0.98);
    expect(matchProbability(0.5, params)).toBeLessThan(0.06);
  });

  it('gives documents without words no band keys, only an exact key', () => {
    const e = fingerprintOf('x', ' ... !!! ', params);
    expect(e.bands.length).toBe(0);
    expect(e.exact.length).toBe(16);
  });
});

describe('the bounded index', () => {
  it('evicts the oldest entry past maxEntries, and forgets only its keys', () => {
    const index = new DedupIndex(2);
    const a = fingerprintOf('a', 'alpha beta gamma delta epsilon zeta', params);
    const b = fingerprintOf('b', 'one two three four five six seven', params);
    const c = fingerprintOf('c', 'red orange yellow green blue indigo violet', params);
    index.add(a);
    index.add(b);
    index.add(c);
    expect(index.size).toBe(2);
    expect(index.evicted).toBe(1);
    expect(index.find(a.exact, a.bands)).toBeNull();
    expect(index.find(b.exact, b.bands)).toEqual({ kind: 'exact', of: 'b' });
    expect(index.find(c.exact, new Float64Array(0))).toEqual({ kind: 'exact', of: 'c' });
  });

  it('names the first document kept when a later one shares its keys', () => {
    const index = new DedupIndex(10);
    const first = fingerprintOf('first', 'the same words in the same order here', params);
    index.add(first);
    index.add({ ...first, docId: 'second' });
    index.remove('second');
    expect(index.find(first.exact, first.bands)).toEqual({ kind: 'exact', of: 'first' });
  });
});

describe('the dedup stage', () => {
  it('rejects exact and near copies naming the kept document, and keeps distinct ones', async () => {
    const base = 'The river delta formed over ten thousand years as sediment settled where the current slowed near the coast and the tides spread it.';
    const rejected = await dedupAll([
      { id: 'a', text: base },
      { id: 'a-mirror', text: `  ${base.toUpperCase()}  ` },
      { id: 'a-edit', text: base.replace('ten thousand', 'twelve thousand') + ' More.' },
      { id: 'b', text: 'Glaciers carve valleys with a U-shaped profile while rivers cut V-shaped ones through softer rock over time.' },
    ]);
    expect(rejected.get('a-mirror')).toMatchObject({ stage: 'dedup', reason: 'dedup.exact', duplicate_of: 'a' });
    expect(textJaccard(base, base.replace('ten thousand', 'twelve thousand') + ' More.')).toBeLessThan(0.8);
    expect(rejected.has('b')).toBe(false);
    expect(rejected.has('a')).toBe(false);
  });

  it('passes every document through when the index is off', async () => {
    const ctx = { config } as unknown as StageContext;
    const r = await dedupStage(doc('x', 'same'), ctx);
    const again = await dedupStage(doc('y', 'same'), ctx);
    expect(r.outputs).toHaveLength(1);
    expect(again.outputs).toHaveLength(1);
  });

  it('catches Chinese near-duplicates and keeps different Chinese documents', async () => {
    const zh = '光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖并释放氧气的过程。这个过程发生在叶绿体中，叶绿素吸收红光和蓝光。光反应产生能量分子，暗反应固定二氧化碳。科学家用同位素追踪证明了氧气来自水分子。植物的叶片表面有气孔，二氧化碳通过气孔进入叶片，水分则通过根系吸收后经导管运输到叶片。温度和光照强度都会影响光合作用的速率。';
    const other = '长城是中国古代的军事防御工程，东起山海关，西至嘉峪关。修建长城的历史可以追溯到春秋战国时期，明朝时进行了大规模的重建。今天长城是世界文化遗产，吸引了大量游客。';
    const rejected = await dedupAll([
      { id: 'zh', text: zh },
      { id: 'zh-copy', text: zh.replace('科学家', '研究人员') },
      { id: 'zh-other', text: other },
    ]);
    expect(textJaccard(zh, zh.replace('科学家', '研究人员'))).toBeGreaterThan(0.8);
    expect(rejected.get('zh-copy')).toMatchObject({ reason: 'dedup.near', duplicate_of: 'zh' });
    expect(rejected.has('zh-other')).toBe(false);
  });

  it('on a planted corpus: recall >= 0.95 of pairs at Jaccard >= 0.85, false positives <= 1%', async () => {
    const corpus = plantedCorpus({ seed: 7, distinct: 3000, exact: 150, near: 150, jaccards: [0.85, 0.9, 0.95], prefix: 'unit' });
    for (const p of corpus.pairs) if (p.kind === 'near') expect(p.jaccard).toBeGreaterThanOrEqual(0.82);
    const rejected = await dedupAll(corpus.docs);
    const score = scoreDedup(corpus, new Map([...rejected].map(([id, r]) => [id, String(r.duplicate_of)])));
    expect(score.pairs).toBe(600);
    expect(score.recall).toBeGreaterThanOrEqual(0.95);
    expect(score.falsePositiveRate).toBeLessThanOrEqual(0.01);
    // Every exact copy is caught as exact.
    for (const p of corpus.pairs.filter((x) => x.kind === 'exact')) expect(rejected.get(p.copy)?.reason).toBe('dedup.exact');
  });
});

describe('dedup configuration', () => {
  it('is on by default, and WEBSCALE_DEDUP_ENABLED turns it off or names a bad value', async () => {
    expect((await loadConfig({ env: {} })).pipeline.dedup).toMatchObject({ enabled: true, ngram: 5, bands: 14, rows: 8, maxEntries: 1_000_000 });
    expect((await loadConfig({ env: { WEBSCALE_DEDUP_ENABLED: 'false' } })).pipeline.dedup.enabled).toBe(false);
    await expect(loadConfig({ env: { WEBSCALE_DEDUP_ENABLED: 'perhaps' } })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('pipeline.dedup.enabled') });
    expect(() => configSchema.parse({ pipeline: { dedup: { bands: 33 } } })).toThrow();
  });
});
