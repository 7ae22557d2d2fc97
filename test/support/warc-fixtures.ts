/**
 * WARC records made at test time with warcio's own writer (never committed as binaries): one
 * record per Buffer, as a crawler would publish them, plain or as one gzip member.
 */
import { WARCRecord, WARCSerializer, type WARCType } from 'warcio';

export interface WarcSpec {
  type: WARCType;
  url: string;
  date?: string;
  /** HTTP headers of a response (a response without them gets none). */
  httpHeaders?: Record<string, string>;
  warcHeaders?: Record<string, string>;
  body: Buffer | string;
  gzip?: boolean;
}

export async function warcBytes(spec: WarcSpec): Promise<{ bytes: Buffer; recordId: string }> {
  const body = typeof spec.body === 'string' ? Buffer.from(spec.body, 'utf8') : spec.body;
  const record = WARCRecord.create(
    {
      url: spec.url,
      date: spec.date ?? '2024-05-01T10:00:00Z',
      type: spec.type,
      warcVersion: 'WARC/1.1',
      ...(spec.httpHeaders ? { httpHeaders: spec.httpHeaders, statusline: 'HTTP/1.1 200 OK' } : {}),
      ...(spec.warcHeaders ? { warcHeaders: spec.warcHeaders } : {}),
    },
    (async function* () {
      yield new Uint8Array(body);
    })(),
  );
  const recordId = (record.warcHeader('WARC-Record-ID') ?? '').replace(/^<|>$/g, '');
  const bytes = Buffer.from(await WARCSerializer.serialize(record, { gzip: spec.gzip ?? false }));
  return { bytes, recordId };
}

export function htmlPage(title: string, article: string): string {
  return `<!doctype html><html><head><title>${title}</title><script>var tracker = "do not keep";</script><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a></nav><article><h1>${title}</h1><p>${article}</p></article></body></html>`;
}
