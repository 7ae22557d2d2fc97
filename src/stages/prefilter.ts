/**
 * The heuristic pre-filter: cheap, synchronous rules that turn away documents no LLM should be
 * paid to read. Each rule is deliberately conservative: it must never reject ordinary prose,
 * source code, LaTeX-heavy mathematics or tables (the tests hold it to that). Order matters only
 * for which reason is reported: size first (it may truncate, and everything after sees the kept
 * text), then binary junk, length, letter share, line repetition and the crawl-quality rules
 * (`quality-rules.ts`).
 *
 * Words are counted as their script counts them (`src/text/words.ts`: `Intl.Segmenter` for
 * Chinese, Japanese, Thai...), so a Chinese article is as long as its English translation, not one
 * "token" per paragraph; letters include combining marks (Thai vowels, Devanagari matras, Arabic
 * harakat). Word-based rules read at most `pipeline.ruleSampleChars` characters of a document.
 */
import type { PipelineConfig } from '../config/schema.js';
import type { DocumentRecord, Rejection } from '../core/records.js';
import { countWords, wordsOf } from '../text/index.js';
import { cutText, makeRejection } from './common.js';
import { qualityVerdict, type TextView } from './quality-rules.js';

/**
 * Share of control/replacement characters above which a text is treated as binary or badly
 * decoded. Mis-decoded Latin-1 puts one U+FFFD per accented letter (a few percent even in French
 * prose), so the bar sits well above that.
 */
export const MAX_BAD_CHAR_RATIO = 0.1;
/** NUL never occurs in text; a handful per thousand characters means a binary file. */
export const MAX_NUL_RATIO = 0.001;
/** The repetition rule only applies from this many non-empty lines on. */
export const MIN_LINES_FOR_REPETITION = 10;

export type PrefilterResult =
  | { ok: true; doc: DocumentRecord; truncatedChars: number }
  | { ok: false; rejection: Rejection };

function reject(doc: DocumentRecord, reason: Rejection['reason'], detail: string): PrefilterResult {
  return { ok: false, rejection: makeRejection({ docId: doc.id, stage: 'filter', reason, detail }) };
}

interface CharStats {
  /** Code points. */
  total: number;
  nonSpace: number;
  letters: number;
  nul: number;
  replacement: number;
  control: number;
}

const KIND_SPACE = 1;
const KIND_LETTER = 2;
const KIND_OTHER = 3;
/**
 * The class of each BMP character, filled as characters are first met: a Chinese or Thai text
 * reuses a few thousand characters, and a table look-up is several times faster than a Unicode
 * regex per character. 64 KiB, once per process.
 */
const BMP_KINDS = new Uint8Array(0x10000);

function classify(ch: string): number {
  if (/\s/u.test(ch)) return KIND_SPACE;
  // A combining mark is part of its letter: Thai vowels, Devanagari matras, Arabic harakat.
  return /[\p{L}\p{M}]/u.test(ch) ? KIND_LETTER : KIND_OTHER;
}

function charKind(ch: string, code: number): number {
  if (code > 0xffff) return classify(ch);
  let kind = BMP_KINDS[code] ?? 0;
  if (kind === 0) {
    kind = classify(ch);
    BMP_KINDS[code] = kind;
  }
  return kind;
}

function charStats(text: string): CharStats {
  const stats: CharStats = { total: 0, nonSpace: 0, letters: 0, nul: 0, replacement: 0, control: 0 };
  for (const ch of text) {
    stats.total++;
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x80) {
      // ASCII fast path: documents are mostly ASCII and a regex per character is slow.
      if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) continue;
      if (code === 0) stats.nul++;
      // C0 controls and DEL (tab, newline, vertical tab, form feed, carriage return are spaces).
      else if (code < 0x20 || code === 0x7f) stats.control++;
      stats.nonSpace++;
      if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) stats.letters++;
      continue;
    }
    const kind = charKind(ch, code);
    if (kind === KIND_SPACE) continue;
    stats.nonSpace++;
    if (code === 0xfffd) stats.replacement++;
    else if (kind === KIND_LETTER) stats.letters++;
  }
  return stats;
}

/** The non-empty lines, trimmed. */
function nonEmptyLines(text: string): string[] {
  const lines: string[] = [];
  for (const raw of text.split(/\r?\n|\r/)) {
    const line = raw.trim();
    if (line !== '') lines.push(line);
  }
  return lines;
}

/** The most frequent non-empty line and its count. */
function mostFrequentLine(lines: readonly string[]): { line: string; count: number; total: number } {
  const counts = new Map<string, number>();
  const total = lines.length;
  let best = { line: '', count: 0 };
  for (const line of lines) {
    const c = (counts.get(line) ?? 0) + 1;
    counts.set(line, c);
    if (c > best.count) best = { line, count: c };
  }
  return { ...best, total };
}

/**
 * The words of the bounded prefix, less LaTeX control words: `\int_{-\infty}^{\infty}` repeats
 * "int infty" in every formula, which is notation, not a repeated phrase.
 */
function proseWords(text: string, maxChars: number): string[] {
  const out: string[] = [];
  for (const w of wordsOf(text, maxChars)) if (text[w.index - 1] !== '\\') out.push(w.word);
  return out;
}

function memo<T>(compute: () => T): () => T {
  let value: { v: T } | null = null;
  return () => (value ??= { v: compute() }).v;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function prefilter(doc: DocumentRecord, cfg: PipelineConfig): PrefilterResult {
  let kept = doc;
  let truncatedChars = 0;
  if (doc.text.length > cfg.maxDocumentChars) {
    if (cfg.oversize === 'reject') {
      return reject(
        doc,
        'filter.too_long',
        `${doc.text.length} characters, limit ${cfg.maxDocumentChars} (pipeline.oversize=reject)`,
      );
    }
    const cut = cutText(doc.text, cfg.maxDocumentChars);
    kept = { ...doc, text: cut.text };
    truncatedChars = cut.cut;
  }
  const text = kept.text;

  const stats = charStats(text);
  const length = Math.max(1, stats.total);
  const bad = stats.nul + stats.replacement + stats.control;
  if (stats.nul / length > MAX_NUL_RATIO || bad / length > MAX_BAD_CHAR_RATIO) {
    return reject(
      doc,
      'filter.binary',
      `${pct(bad / length)} control or replacement characters ` +
        `(${stats.nul} NUL, ${stats.replacement} U+FFFD, ${stats.control} other controls)`,
    );
  }

  const words = countWords(text, cfg.minTokens, cfg.ruleSampleChars);
  if (words < cfg.minTokens) {
    const where = text.length > cfg.ruleSampleChars ? ` in the first ${cfg.ruleSampleChars} characters` : '';
    return reject(doc, 'filter.too_short', `${words} words${where}, minimum ${cfg.minTokens}`);
  }

  const alpha = stats.nonSpace === 0 ? 0 : stats.letters / stats.nonSpace;
  if (alpha < cfg.minAlphaRatio) {
    return reject(
      doc,
      'filter.low_alpha',
      `letters are ${pct(alpha)} of non-space characters, minimum ${pct(cfg.minAlphaRatio)}`,
    );
  }

  const lines = nonEmptyLines(text);
  const top = mostFrequentLine(lines);
  if (top.total >= MIN_LINES_FOR_REPETITION && top.count / top.total > cfg.maxDuplicateLineRatio) {
    const shown = top.line.length > 80 ? `${top.line.slice(0, 80)}…` : top.line;
    return reject(
      doc,
      'filter.repetitive',
      `line ${JSON.stringify(shown)} is ${top.count} of ${top.total} non-empty lines (${pct(top.count / top.total)}), ` +
        `maximum ${pct(cfg.maxDuplicateLineRatio)}`,
    );
  }

  const view: TextView = {
    text,
    lines,
    words: memo(() => proseWords(text, cfg.ruleSampleChars)),
    sampleChars: cfg.ruleSampleChars,
    language: doc.language ?? null,
  };
  const verdict = qualityVerdict(view, cfg.qualityRules);
  if (verdict !== null) return reject(doc, verdict.reason, verdict.detail);

  return { ok: true, doc: kept, truncatedChars };
}
