/**
 * Words as a reader of the text's own script would count them, for the rules that judge a text by
 * its words (the pre-filter's length, repetition and symbol rules; the check stage's question shape
 * and leakage tokens). Whitespace does not separate words in Chinese, Japanese, Thai, Lao, Khmer or
 * Myanmar text, so "tokens between spaces" call a whole Chinese paragraph one word.
 *
 * Words come from `Intl.Segmenter` (granularity `word`, `isWordLike`: ICU's dictionary-based word
 * breaks, shipped with Node's full ICU). ICU is slow on long input (about 1 MB/s on this machine,
 * and worse than linear in the length of one call), so we hand it only the runs that need it: the
 * text is first cut into runs of letters, marks and digits (the joins ICU also keeps inside a word:
 * "don't", "U.S", "3.14", "1,000"), and only a run that holds a character of a script written
 * without spaces is segmented by ICU. A run of Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari
 * or Hangul letters is already one word, as ICU would say. Long texts are judged on a bounded
 * prefix (`maxChars`), so the cost and memory of one call never depend on the document.
 */

/** Zero-width joiners belong inside a word: Persian writes "کوه‌ها" with a ZWNJ. */
const WORD_RUN = /[\p{L}\p{M}\p{N}\u200c\u200d]+(?:(?:[.'’](?=[\p{L}\p{N}])|(?<=\p{N}),(?=\p{N}))[\p{L}\p{M}\p{N}\u200c\u200d]+)*/gu;

/** Scripts written without spaces between words: their runs go through ICU's word breaker. */
const NO_SPACE_SCRIPT = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Thai}\p{sc=Lao}\p{sc=Khmer}\p{sc=Myanmar}]/u;

/** Characters given to ICU in one call: its cost grows faster than the length of one input. */
const ICU_CHUNK_CHARS = 256;

let segmenter: Intl.Segmenter | null = null;
function icu(): Intl.Segmenter {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'word' });
  return segmenter;
}

/** A word and where it starts in the text. */
export interface Word {
  word: string;
  index: number;
}

/** Whether the text holds a character of a script written without spaces (CJK, Thai, ...). */
export function hasNoSpaceScript(text: string): boolean {
  return NO_SPACE_SCRIPT.test(text);
}

/**
 * The words of `text` in order, from its first `maxChars` characters, at most `maxWords` of them.
 * A run cut by the prefix bound counts as the word it starts.
 */
export function* wordsOf(text: string, maxChars = Number.POSITIVE_INFINITY, maxWords = Number.POSITIVE_INFINITY): Generator<Word> {
  const sample = text.length > maxChars ? text.slice(0, maxChars) : text;
  let n = 0;
  for (const m of sample.matchAll(WORD_RUN)) {
    const run = m[0];
    if (!NO_SPACE_SCRIPT.test(run)) {
      yield { word: run, index: m.index };
      if (++n >= maxWords) return;
      continue;
    }
    for (let start = 0; start < run.length; ) {
      const end = chunkEnd(run, start);
      for (const s of icu().segment(run.slice(start, end))) {
        if (!s.isWordLike) continue;
        yield { word: s.segment, index: m.index + start + s.index };
        if (++n >= maxWords) return;
      }
      start = end;
    }
  }
}

/**
 * Where to end one ICU call: ICU_CHUNK_CHARS on, never inside a surrogate pair. A cut inside an
 * unpunctuated run longer than that can split one word in two: a count off by at most one per
 * ICU_CHUNK_CHARS characters.
 */
function chunkEnd(run: string, start: number): number {
  let end = Math.min(run.length, start + ICU_CHUNK_CHARS);
  if (end < run.length) {
    const code = run.charCodeAt(end);
    if (code >= 0xdc00 && code <= 0xdfff) end--;
  }
  return end;
}

/** The words as strings (see `wordsOf`). */
export function wordList(text: string, maxChars?: number, maxWords?: number): string[] {
  const out: string[] = [];
  for (const w of wordsOf(text, maxChars, maxWords)) out.push(w.word);
  return out;
}

/** How many words the text has, counting no further than `atMost` (so a length test stops early). */
export function countWords(text: string, atMost = Number.POSITIVE_INFINITY, maxChars?: number): number {
  let n = 0;
  for (const _ of wordsOf(text, maxChars, atMost)) n++;
  return n;
}
