/**
 * One WARC record per message value, written by warcio at test time: each kind becomes the
 * document, rejection or skip the bridge promises.
 */
import { describe, expect, it } from 'vitest';
import { warcMessageToItem } from '../../src/input/warc-message.js';
import { htmlPage, warcBytes } from '../support/warc-fixtures.js';

const opts = { source: 'crawler.warc', maxBytes: 100_000 };

describe('warcMessageToItem', () => {
  it('turns a gzip HTML response into a document with the WARC header fields', async () => {
    const { bytes, recordId } = await warcBytes({
      type: 'response',
      url: 'https://port.example/news/1',
      date: '2024-05-01T10:00:00Z',
      httpHeaders: { 'Content-Type': 'text/html; charset=utf-8' },
      body: htmlPage('Harbour news', 'The new quay opened on Monday &amp; ships docked at once.'),
      gzip: true,
    });
    expect(bytes[0]).toBe(0x1f);
    const item = await warcMessageToItem(bytes, opts);
    expect(item.kind).toBe('document');
    if (item.kind !== 'document') return;
    expect(item.doc).toMatchObject({ id: recordId, url: 'https://port.example/news/1', crawl_date: Date.parse('2024-05-01T10:00:00Z'), source: 'crawler.warc' });
    expect(item.doc.text).toContain('The new quay opened on Monday & ships docked at once.');
    expect(item.doc.text).not.toContain('tracker');
    expect(item.doc.text).not.toContain('color:red');
  });

  it('decodes the charset the HTTP header names', async () => {
    const { bytes } = await warcBytes({
      type: 'response',
      url: 'https://cafe.example/',
      httpHeaders: { 'Content-Type': 'text/html; charset=ISO-8859-1' },
      body: Buffer.from('<p>Un café près du port, déjà ouvert.</p>', 'latin1'),
    });
    const item = await warcMessageToItem(bytes, opts);
    expect(item.kind === 'document' && item.doc.text).toBe('Un café près du port, déjà ouvert.');
  });

  it('takes a WET conversion as text, with the id of the record it was converted from', async () => {
    const { bytes } = await warcBytes({
      type: 'conversion',
      url: 'https://tides.example/',
      warcHeaders: { 'WARC-Refers-To': '<urn:uuid:00000000-0000-4000-8000-000000000001>', 'Content-Type': 'text/plain', 'WARC-Identified-Content-Language': 'en' },
      body: 'Tides rise twice a day <not a tag>.',
    });
    const item = await warcMessageToItem(bytes, opts);
    expect(item).toMatchObject({ kind: 'document', doc: { id: 'urn:uuid:00000000-0000-4000-8000-000000000001', text: 'Tides rise twice a day <not a tag>.', language: 'en' } });
  });

  it('skips records that hold no document and rejects the ones it cannot use', async () => {
    const request = await warcBytes({ type: 'request', url: 'https://a.example/', httpHeaders: { Host: 'a.example' }, body: '' });
    expect((await warcMessageToItem(request.bytes, opts)).kind).toBe('skip');

    const pdf = await warcBytes({ type: 'response', url: 'https://a.example/x.pdf', httpHeaders: { 'Content-Type': 'application/pdf' }, body: Buffer.from('%PDF-1.7 binary') });
    expect(await warcMessageToItem(pdf.bytes, opts)).toMatchObject({ kind: 'rejection', reason: 'input.unsupported_content_type', docId: pdf.recordId });

    expect(await warcMessageToItem(Buffer.from('GET / HTTP/1.1\r\n\r\n'), opts)).toMatchObject({ kind: 'rejection', reason: 'input.invalid_warc' });
    const whole = await warcBytes({ type: 'resource', url: 'https://a.example/t', warcHeaders: { 'Content-Type': 'text/plain' }, body: 'x'.repeat(500) });
    expect(await warcMessageToItem(whole.bytes.subarray(0, whole.bytes.length - 200), opts)).toMatchObject({ kind: 'rejection', reason: 'input.invalid_warc', detail: expect.stringMatching(/truncated/) as unknown });
    expect(await warcMessageToItem(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]), opts)).toMatchObject({ kind: 'rejection', reason: 'input.invalid_warc' });
  });

  it('refuses a record that inflates past the limit before holding it whole', async () => {
    const big = await warcBytes({ type: 'resource', url: 'https://a.example/big', warcHeaders: { 'Content-Type': 'text/plain' }, body: 'a'.repeat(1_000_000), gzip: true });
    expect(big.bytes.length).toBeLessThan(opts.maxBytes);
    expect(await warcMessageToItem(big.bytes, opts)).toMatchObject({ kind: 'rejection', reason: 'input.too_large' });
  });
});
