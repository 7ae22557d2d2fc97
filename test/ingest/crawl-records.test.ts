/**
 * A crawler's messages into documents or typed rejections, without a broker: the JSON rules are
 * those of a JSON line of `run`, plus crawl_date and language; every rejection names where the
 * message was.
 */
import { describe, expect, it } from 'vitest';
import { crawlDateOf, decodeCrawlMessage, languageOf } from '../../src/ingest/crawl-records.js';

const origin = { topic: 'crawler.pages', partition: 2, offset: 41n, key: null };
const opts = { maxBytes: 10_000 };
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('decodeCrawlMessage (json)', () => {
  it('keeps the fields a crawler sends, with the topic as default source', async () => {
    const item = await decodeCrawlMessage('json', json({ id: 7, text: 'A page.', url: 'https://a.example/', crawl_date: '2024-05-01T10:00:00Z', language: 'EN' }), origin, opts);
    expect(item).toMatchObject({ kind: 'document', doc: { id: '7', text: 'A page.', url: 'https://a.example/', source: 'crawler.pages', crawl_date: Date.parse('2024-05-01T10:00:00Z'), language: 'en' } });
  });

  it('derives the id from the text when there is none, as run does', async () => {
    const a = await decodeCrawlMessage('json', json({ text: 'Same words.' }), origin, opts);
    const b = await decodeCrawlMessage('json', json({ text: 'Same words.', url: 'https://b.example/' }), { ...origin, offset: 99n }, opts);
    expect(a.kind === 'document' && b.kind === 'document' && a.doc.id === b.doc.id && a.doc.id.startsWith('sha256:')).toBe(true);
  });

  it('turns bad messages into rejections that say where they were', async () => {
    const cases: [Buffer | null, string][] = [
      [Buffer.from('{"text": '), 'input.invalid_json'],
      [json('just a string'), 'input.not_object'],
      [json({ id: 'x' }), 'input.missing_text'],
      [json({ text: 'ok', url: 3 }), 'input.invalid_field'],
      [json({ text: 'ok', crawl_date: -5 }), 'input.invalid_field'],
      [json({ text: 'ok', language: 'english' }), 'input.invalid_field'],
      [Buffer.from([0x22, 0xc3, 0x28, 0x22]), 'input.invalid_utf8'],
      [null, 'input.missing_text'],
      [json({ text: 'y'.repeat(20_000) }), 'input.too_large'],
    ];
    for (const [value, reason] of cases) {
      const item = await decodeCrawlMessage('json', value, origin, opts);
      expect(item.kind, reason).toBe('rejection');
      if (item.kind !== 'rejection') continue;
      expect(item.rejection.reason).toBe(reason);
      expect(item.rejection).toMatchObject({ stage: 'input', line: null });
      expect(item.rejection.detail).toMatch(/^crawler\.pages\[2\]@41: /);
    }
  });

  it('names a message without a value by its key', async () => {
    const item = await decodeCrawlMessage('json', null, { ...origin, key: Buffer.from('page-9') }, opts);
    expect(item.kind === 'rejection' && item.rejection.doc_id).toBe('page-9');
  });
});

describe('crawl field rules', () => {
  it('reads crawl dates as epoch ms or ISO-8601', () => {
    expect(crawlDateOf(1_714_557_600_000)).toBe(1_714_557_600_000);
    expect(crawlDateOf('2024-05-01T10:00:00Z')).toBe(1_714_557_600_000);
    expect(crawlDateOf(null)).toBeNull();
    expect(crawlDateOf(1.5)).toBeInstanceOf(Error);
    expect(crawlDateOf('soon')).toBeInstanceOf(Error);
  });

  it('reads languages as ISO 639-1, from a code or a BCP 47 tag', () => {
    expect(languageOf('pt-BR')).toBe('pt');
    expect(languageOf('zh_Hant')).toBe('zh');
    expect(languageOf(undefined)).toBeNull();
    expect(languageOf('eng')).toBeInstanceOf(Error);
    expect(languageOf(['en'])).toBeInstanceOf(Error);
  });
});
