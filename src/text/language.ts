/**
 * Language identification with fastText's `lid.176` model (176 languages), run in WebAssembly by
 * `fasttext.wasm.js`, which ships the compressed model (`lid.176.ftz`, under 1 MB) inside its npm
 * package: nothing is fetched at run time. We picked it over `eld`, `tinyld` and `franc` on our own
 * multilingual sample (test/text/language-sample.jsonl): it named all 38 sentences right (eld 37,
 * it has no Indonesian), loads in about 0.1 s and adds about 20 MB to the process, where eld's
 * smallest database adds about 100 MB (see README, *Language*).
 *
 * fastText reads one line, so line breaks become spaces, and only a bounded prefix of a document
 * is read: the cost and memory of one detection never depend on the document's length.
 */
import { getLIDModel } from 'fasttext.wasm.js';
import { WebscaleError } from '../core/errors.js';

/**
 * Characters of a document the detector reads. Past a few sentences more text changes little, and
 * the WebAssembly call costs more than linearly past this (0.2 ms CPU at 1,000 characters, 0.5 ms
 * at 2,000, 1.4 ms at 4,000 on this project's machine).
 */
export const LANGUAGE_SAMPLE_CHARS = 2000;

export interface DetectedLanguage {
  /** ISO 639-1 code, or ISO 639-3 for a language that has none (e.g. `ceb`); null below the confidence bar. */
  language: string | null;
  /** The model's probability for its best label (0..1). */
  confidence: number;
  /** The best label whatever its confidence, for the record's detail. */
  best: string;
}

type LidModel = Awaited<ReturnType<typeof getLIDModel>>;

let model: Promise<LidModel> | null = null;

/** The model, loaded once per process on first use. */
function loadModel(): Promise<LidModel> {
  model ??= (async () => {
    try {
      const lid = await getLIDModel();
      await lid.load();
      return lid;
    } catch (err) {
      model = null;
      throw new WebscaleError('INTERNAL', 'could not load the fastText language-identification model', { cause: err });
    }
  })();
  return model;
}

/** The text fastText reads: a bounded prefix on one line. */
function sampleForDetection(text: string): string {
  const sample = text.length > LANGUAGE_SAMPLE_CHARS ? text.slice(0, LANGUAGE_SAMPLE_CHARS) : text;
  return sample.replace(/\s+/gu, ' ').trim();
}

/**
 * The language of `text`. Below `minConfidence` the language is null (mixed or too little text);
 * `best` still says what the model leaned to.
 */
export async function detectLanguage(text: string, minConfidence: number): Promise<DetectedLanguage> {
  const sample = sampleForDetection(text);
  if (sample === '') return { language: null, confidence: 0, best: 'none' };
  const lid = await loadModel();
  const result = await lid.identify(sample);
  const code = result.alpha2 ?? result.alpha3;
  const confidence = result.possibility;
  return { language: confidence >= minConfidence ? code : null, confidence, best: code };
}

/**
 * The primary language subtag, lower-cased, so crawl headers and config compare alike:
 * "en-US" and "EN" are "en". Crawl headers in ISO 639-3 ("eng") are kept as given.
 */
export function primaryLanguage(tag: string): string {
  return (tag.split(/[-_,]/)[0] ?? '').trim().toLowerCase();
}
