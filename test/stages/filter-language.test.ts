/**
 * The filter stage gives every document a language and, with `pipeline.languages`, turns away the
 * others as `filter.language` before any LLM call.
 */
import { describe, expect, it } from 'vitest';
import { filterStage } from '../../src/stages/filter.js';
import { LONG_DOCS } from '../text/multilingual.js';
import { PROSE, makeConfig, makeCtx, makeDoc } from './helpers.js';

const GERMAN = `Der Rhein ist einer der großen Flüsse Europas. Er entspringt in den Schweizer Alpen in der Nähe des Oberalppasses
und fließt auf etwa 1.230 Kilometern durch die Schweiz, Liechtenstein, Österreich, Deutschland, Frankreich und die Niederlande,
bevor er bei Rotterdam in die Nordsee mündet. Unterwegs durchquert er den Bodensee und stürzt bei Schaffhausen über den
Rheinfall, den wasserreichsten Wasserfall Europas. Seit Jahrhunderten ist der Fluss ein wichtiger Handelsweg: Schiffe bringen
Kohle, Getreide, Chemikalien und Container zwischen dem Hafen von Rotterdam und dem Ruhrgebiet hin und her.`;

const QUALIFIED = { reasoning: 'informative', qualified: true };

describe('filter stage: language', () => {
  it('detects the language and sets it on the document that goes on', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply(QUALIFIED);
    const res = await filterStage(makeDoc(PROSE), ctx);
    expect(res.outputs[0]?.doc.language).toBe('en');
    expect(res.language).toBe('en');
  });

  it('keeps a language the document came with (crawl headers) and does not second-guess it', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply(QUALIFIED);
    const res = await filterStage({ ...makeDoc(PROSE), language: 'en-GB' }, ctx);
    expect(res.outputs[0]?.doc.language).toBe('en-GB');
  });

  it('pipeline.languages rejects other languages as filter.language with no LLM call', async () => {
    const config = makeConfig({ pipeline: { languages: ['en', 'zh'] } });
    const ctx = makeCtx({ config });
    const german = await filterStage(makeDoc(GERMAN, 'de-1'), ctx);
    expect(german.outputs).toEqual([]);
    expect(german.rejections).toHaveLength(1);
    expect(german.rejections[0]).toMatchObject({ doc_id: 'de-1', stage: 'filter', reason: 'filter.language' });
    expect(german.rejections[0]?.detail).toMatch(/^language de \(detected, confidence [01]\.\d\d\); pipeline\.languages: en, zh$/);
    expect(german.rejections[0]?.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0 });
    expect(german.language).toBe('de');
    // A header language is compared by its primary subtag, and it decides over the detector.
    const tagged = await filterStage({ ...makeDoc(PROSE, 'fr-tagged'), language: 'fr-CA' }, ctx);
    expect(tagged.rejections.map((r) => r.reason)).toEqual(['filter.language']);
    expect(ctx.router.totalRequests).toBe(0);

    ctx.router.clients.filter.reply(QUALIFIED, QUALIFIED);
    expect((await filterStage(makeDoc(LONG_DOCS.zh, 'zh-1'), ctx)).outputs[0]?.doc.language).toBe('zh');
    expect((await filterStage({ ...makeDoc(PROSE, 'en-1'), language: 'EN-us' }, ctx)).outputs).toHaveLength(1);
    expect(ctx.router.totalRequests).toBe(2);
  });

  it('a document whose language stays undetermined passes only when `und` is listed', async () => {
    const numbers = `${Array.from({ length: 60 }, (_, i) => `${i * 7} ${i * 13}`).join(' ')} ok`;
    const strict = makeConfig({ pipeline: { languages: ['en'], languageMinConfidence: 1, minAlphaRatio: 0 } });
    const rejected = await filterStage(makeDoc(numbers), makeCtx({ config: strict }));
    expect(rejected.rejections[0]?.reason).toBe('filter.language');
    expect(rejected.rejections[0]?.detail).toContain('language undetermined (below 1)');
    expect(rejected.language).toBeNull();

    const lenient = makeCtx({ config: makeConfig({ pipeline: { languages: ['en', 'und'], languageMinConfidence: 1, minAlphaRatio: 0 } }) });
    lenient.router.clients.filter.reply(QUALIFIED);
    const kept = await filterStage(makeDoc(numbers), lenient);
    expect(kept.outputs[0]?.doc.language).toBeNull();
  });

  it('pre-filter rejections still report the language for the summary', async () => {
    const res = await filterStage(makeDoc('长江是中国第一长河。'), makeCtx());
    expect(res.rejections[0]?.reason).toBe('filter.too_short');
    expect(res.language).toBe('zh');
  });

  it('refuses a language list that is not a list of codes', () => {
    expect(() => makeConfig({ pipeline: { languages: ['english'] } })).toThrow(/language code/);
    expect(() => makeConfig({ pipeline: { languages: [] } })).toThrow();
  });
});
