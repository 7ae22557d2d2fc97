import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { runCli } from '../support/cli.js';
import { crawlRecords, fixtureText, gzipFile, wetRecords, writeParquet, writeWarc, writeZstd } from '../input/make-fixtures.js';

let llm: StandInLlm;

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 5 });
});
afterAll(async () => {
  await llm.close();
});

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function prose(topic: string): string {
  return `Field notes on the ${topic}: the team measured it every week for two seasons and wrote down what changed, what stayed the same, and why the readings differed between the morning and the evening visits to the site. `.repeat(3).trim();
}

describe('webscale-rl run over a folder of mixed crawl files', () => {
  it('accounts for every input record: QA records, rejections or counted skips', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-run-sources-'));
    const input = join(dir, 'in');
    await mkdir(join(input, 'crawl'), { recursive: true });
    // 3 documents, 2 rejections (PDF, undecodable), 4 skips (warcinfo, request, redirect, metadata).
    await writeWarc(join(input, 'crawl', 'part-0.warc.gz'), await crawlRecords());
    // 2 documents, 1 skip (warcinfo).
    await writeWarc(join(input, 'crawl', 'part-0.warc.wet.gz'), wetRecords());
    await writeFile(join(input, 'page.html'), await fixtureText('article.html'));
    // The corpus names its text field "body": --text-field body.
    await gzipFile(join(input, 'lines.jsonl.gz'), [JSON.stringify({ id: 'gz-1', body: prose('glacier') }), JSON.stringify({ id: 'gz-2', text: 'wrong field' })].join('\n') + '\n');
    writeZstd(join(input, 'lines.jsonl.zst'), JSON.stringify({ id: 'zst-1', body: prose('orchard') }) + '\n');
    writeParquet(join(input, 'rows.parquet'), [{ id: 'pq-1', body: prose('harbour') }, { id: 'pq-2', body: prose('volcano') }], 1);

    const out = join(dir, 'qa.jsonl');
    const rej = join(dir, 'rej.jsonl');
    const summaryPath = join(dir, 'summary.json');
    const res = await runCli(
      ['run', '--input', input, '--output', out, '--rejections', rej, '--summary', summaryPath, '--text-field', 'body', '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', '4', '--no-progress'],
      { timeoutMs: 120_000 },
    );
    expect(res.stderr).toContain('verification rate');
    expect(res.stderr).toContain('input records skipped (not content): warc.record_type 4, http.redirect 1');
    expect(res.stderr).toContain('HTML pages by extraction path: markup 3, readability 1');
    expect(res.code).toBe(0);

    const qa = await readJsonl(out);
    const rejections = await readJsonl(rej);
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as {
      documents: { read: number; input_rejected: number; done: number };
      input_skipped: Record<string, number>;
      input_extraction: Record<string, number>;
    };
    const page = (n: number): string => `urn:uuid:00000000-0000-4000-8000-00000000000${n}`;
    const wet = (n: number): string => `urn:uuid:20000000-0000-4000-8000-00000000000${n}`;
    const documents = [page(2), page(3), page(4), wet(1), wet(2), 'gz-1', 'zst-1', 'pq-1', 'pq-2'];
    const inputRejected = [page(5), page(7), 'gz-2'];
    expect(summary.documents.read).toBe(documents.length + inputRejected.length + 1); // + page.html, id by content hash
    expect(summary.documents.done).toBe(summary.documents.read);
    expect(summary.documents.input_rejected).toBe(inputRejected.length);
    expect(summary.input_skipped).toEqual({ 'http.redirect': 1, 'warc.record_type': 4 });
    // The crawl's three HTML responses and page.html: every path is listed, counted or 0.
    expect(summary.input_extraction).toEqual({ markup: 3, paragraphs: 0, readability: 1, body: 0 });

    const inputReasons = rejections.filter((r) => r['stage'] === 'input').map((r) => `${String(r['doc_id'])}:${String(r['reason'])}`);
    expect(inputReasons.sort()).toEqual([`${page(5)}:input.unsupported_content_type`, `${page(7)}:input.undecodable`, 'gz-2:input.missing_text'].sort());
    // Every document ends in the sink or with a rejection.
    const accounted = new Set([...qa.map((q) => q['doc_id']), ...rejections.map((r) => r['doc_id'])]);
    for (const id of documents) expect(accounted.has(id), id).toBe(true);
    const pageDoc = [...accounted].filter((id) => typeof id === 'string' && id.startsWith('sha256:'));
    expect(pageDoc).toHaveLength(1);
    const fromCrawl = qa.find((q) => q['doc_id'] === page(2));
    if (fromCrawl) expect(fromCrawl['source_url']).toBe('https://coastal.example/tide-pools');
  }, 180_000);
});
