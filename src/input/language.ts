/**
 * Language codes from crawl headers to ISO 639-1. Common Crawl's
 * `WARC-Identified-Content-Language` lists ISO 639-3 codes ("eng,deu"); documents carry the
 * two-letter code when one exists. The tables come from wooorm's iso-639-3 package.
 */
import { iso6393To1 } from 'iso-639-3/iso6393-to-1.js';
import { iso6393To2B } from 'iso-639-3/iso6393-to-2b.js';

/** ISO 639-2/B codes ("ger", "fre", "chi") to their ISO 639-3 twins ("deu", "fra", "zho"). */
const bibliographicTo3 = new Map(Object.entries(iso6393To2B).map(([three, b]) => [b, three]));

/** The first language of a header value, as ISO 639-1 when it has one, else as given (lower case); null when empty. */
export function languageFromHeader(value: string | null | undefined): string | null {
  const first = value?.split(/[,;\s]/).find((part) => part.trim().length > 0)?.trim().toLowerCase();
  if (!first) return null;
  const base = first.split(/[-_]/)[0] ?? first;
  if (base.length === 2) return base;
  if (base.length === 3) return iso6393To1[base] ?? iso6393To1[bibliographicTo3.get(base) ?? ''] ?? base;
  return base;
}
