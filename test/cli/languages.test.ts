/**
 * `run` with `pipeline.languages`: a document in another language is rejected as `filter.language`
 * and never reaches the LLM (the stand-in server sees no request with its text); the summary
 * counts documents and kept QA pairs by language.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { LONG_DOCS } from '../text/multilingual.js';

let llm: StandInLlm;
let dir: string;

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 2 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-lang-'));
});
afterAll(async () => {
  await llm.close();
});

const ENGLISH = `The Danube is the second-longest river in Europe. It rises in the Black Forest in Germany and flows for about
2,850 kilometres to the east, through ten countries and four capital cities, before it reaches the Black Sea in Romania.
Since Roman times the river has marked a frontier and carried trade; today barges move grain, ore and fuel along it,
and a canal joins it to the Main and so to the Rhine, linking the North Sea with the Black Sea.`;

const GERMAN = `Die Donau ist nach der Wolga der zweitlängste Fluss Europas. Sie entspringt im Schwarzwald und fließt rund
2.850 Kilometer nach Osten durch zehn Länder und vier Hauptstädte, bevor sie in Rumänien ins Schwarze Meer mündet.
Schon die Römer nutzten den Strom als Grenze und Handelsweg; heute transportieren Schubverbände Getreide, Erz und
Treibstoff, und ein Kanal verbindet die Donau über den Main mit dem Rhein.`;

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Chat requests the stand-in received whose prompt holds this text. */
function requestsMentioning(text: string): number {
  return llm.requests.filter((r) => r.path.endsWith('/chat/completions') && JSON.stringify(r.body).includes(text)).length;
}

describe('run with pipeline.languages', () => {
  it('rejects other languages before any LLM call and reports documents and QA pairs by language', async () => {
    const input = join(dir, 'docs.jsonl');
    const lines = [
      { id: 'en-1', text: `${ENGLISH} [[domain:Natural Science]] [[personas:barge captain]]` },
      { id: 'de-1', text: `${GERMAN} [[domain:Natural Science]] [[personas:barge captain]]` },
      { id: 'zh-1', text: `${LONG_DOCS.zh} [[domain:Natural Science]] [[personas:traveller]]` },
      { id: 'zh-short', text: '长江是中国第一长河。' },
    ];
    await writeFile(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const config = join(dir, 'languages.yaml');
    await writeFile(config, 'pipeline:\n  languages: [en, zh]\n');
    const out = join(dir, 'qa.jsonl');
    const rej = join(dir, 'rej.jsonl');
    const summaryPath = join(dir, 'summary.json');
    const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--summary', summaryPath, '--config', config, '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', '2']);
    expect(res.code, res.stderr).toBe(0);

    const rejections = await readJsonl(rej);
    const german = rejections.filter((r) => r['doc_id'] === 'de-1');
    expect(german.map((r) => r['reason'])).toEqual(['filter.language']);
    expect(String(german[0]?.['detail'])).toContain('language de');
    expect(rejections.filter((r) => r['doc_id'] === 'zh-short').map((r) => r['reason'])).toEqual(['filter.too_short']);
    // The German document cost nothing: no prompt ever held its text. The others were sent.
    expect(requestsMentioning('Schwarzwald')).toBe(0);
    expect(requestsMentioning('Black Forest')).toBeGreaterThan(0);
    expect(requestsMentioning('唐古拉山脉')).toBeGreaterThan(0);

    const qa = await readJsonl(out);
    const qaLanguages = Object.fromEntries(qa.map((q) => [String(q['doc_id']), (q['provenance'] as Record<string, unknown>)['language']]));
    for (const [docId, language] of Object.entries(qaLanguages)) expect(language).toBe(docId.slice(0, 2));
    expect(qa.some((q) => q['doc_id'] === 'en-1')).toBe(true);

    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as { languages: Record<string, { documents: number; qa_kept: number }> };
    expect(summary.languages['de']).toEqual({ documents: 1, qa_kept: 0 });
    expect(summary.languages['zh']?.documents).toBe(2);
    expect(summary.languages['en']).toEqual({ documents: 1, qa_kept: qa.filter((q) => q['doc_id'] === 'en-1').length });
    expect(summary.languages['zh']?.qa_kept).toBe(qa.filter((q) => q['doc_id'] === 'zh-1').length);
    expect(res.stderr).toContain('languages (documents, QA pairs kept):');
  });
});
