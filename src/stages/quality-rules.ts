/**
 * The crawl-quality rules of the pre-filter: cheap document-level tests in the manner of Gopher
 * (Rae et al., 2021), C4 (Raffel et al., 2020) and FineWeb (Penedo et al., 2024) that turn away
 * navigation pages, cookie walls, hashtag spam and lists before an LLM is paid to read them. The
 * thresholds are theirs (see src/config/quality-rules.ts); the code and the phrase list are ours.
 * Each rule has its own reason code and its own switch, and each must pass ordinary prose in any
 * script, source code, mathematics and tables (test/stages/quality-rules.test.ts holds it to that).
 */
import type { QualityRulesConfig } from '../config/quality-rules.js';
import type { ReasonCode } from '../core/records.js';
import { countWords, endsWithTerminalPunctuation, primaryLanguage } from '../text/index.js';

/** What the rules read, computed once per document. */
export interface TextView {
  text: string;
  /** Non-empty lines, trimmed. */
  lines: string[];
  /**
   * Words of the document's bounded prefix (see `wordsOf`), without LaTeX commands (`\\int`).
   * A function, computed on first use: segmenting Chinese or Thai costs about 1 ms per thousand
   * characters, and most documents pass every rule without needing the list.
   */
  words: () => readonly string[];
  /** Characters the words were taken from. */
  sampleChars: number;
  language: string | null;
}

export interface RuleVerdict {
  reason: ReasonCode;
  detail: string;
}

type Rule<K extends keyof QualityRulesConfig> = (view: TextView, cfg: QualityRulesConfig[K]) => RuleVerdict | null;

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/**
 * How a line of source code, LaTeX or a table ends (`{`, `;`, `\\`, `|`...). FineWeb's rule is
 * for web prose; code and tables must pass here, so such a line counts as finished.
 */
const CODE_LINE_END = /[;:,{}()[\]|\\$]$/;

const linePunctuation: Rule<'linePunctuation'> = (view, cfg) => {
  const n = view.lines.length;
  if (n < cfg.minLines || n === 0) return null;
  if (view.language !== null && cfg.exemptLanguages.includes(primaryLanguage(view.language))) return null;
  let ended = 0;
  for (const line of view.lines) if (endsWithTerminalPunctuation(line) || CODE_LINE_END.test(line)) ended++;
  const ratio = ended / n;
  if (ratio >= cfg.minRatio) return null;
  return {
    reason: 'filter.line_punctuation',
    detail: `${ended} of ${n} lines (${pct(ratio)}) end in terminal punctuation, minimum ${pct(cfg.minRatio)}`,
  };
};

/** A line's first characters decide whether it has a few words: no need to segment all of it. */
const LINE_WORDS_PREFIX_CHARS = 48;

const duplicateLines: Rule<'duplicateLines'> = (view, cfg) => {
  const n = view.lines.length;
  if (n < cfg.minLines || n === 0) return null;
  const seen = new Set<string>();
  let dupLines = 0;
  let dupChars = 0;
  let totalChars = 0;
  for (const line of view.lines) {
    totalChars += line.length;
    if (!seen.has(line)) {
      seen.add(line);
      continue;
    }
    // Only repeats are segmented: most lines are not, and Chinese or Thai segmentation is slow.
    if (countWords(line, cfg.minWords, LINE_WORDS_PREFIX_CHARS) < cfg.minWords) continue;
    dupLines++;
    dupChars += line.length;
  }
  const lineRatio = dupLines / n;
  const charRatio = totalChars === 0 ? 0 : dupChars / totalChars;
  if (lineRatio <= cfg.maxLineRatio && charRatio <= cfg.maxCharRatio) return null;
  return {
    reason: 'filter.duplicate_lines',
    detail:
      `${dupLines} of ${n} lines repeat an earlier line (${pct(lineRatio)}, maximum ${pct(cfg.maxLineRatio)}) ` +
      `holding ${pct(charRatio)} of the characters (maximum ${pct(cfg.maxCharRatio)})`,
  };
};

/** Sentences, or lines where a line holds no sentence end: the unit a boilerplate phrase condemns. */
const SENTENCE_BREAK = /\n|(?<=[.!?。！？؟।])\s+/u;

const boilerplate: Rule<'boilerplate'> = (view, cfg) => {
  let total = 0;
  let boiler = 0;
  let first: string | null = null;
  const phrases = cfg.phrases.map((p) => p.toLowerCase());
  for (const piece of view.text.toLowerCase().split(SENTENCE_BREAK)) {
    const len = piece.trim().length;
    if (len === 0) continue;
    total += len;
    const phrase = phrases.find((p) => piece.includes(p));
    if (phrase === undefined) continue;
    boiler += len;
    first ??= phrase;
  }
  const ratio = total === 0 ? 0 : boiler / total;
  if (ratio <= cfg.maxCharRatio) return null;
  return {
    reason: 'filter.boilerplate',
    detail: `sentences with boilerplate phrases (first: "${first ?? ''}") hold ${pct(ratio)} of the text, maximum ${pct(cfg.maxCharRatio)}`,
  };
};

/** A hashtag ("#tbt"), not a Markdown heading ("# Title") or a comment ("# note"). */
const HASHTAG = /#[\p{L}\p{N}_]/gu;
const ELLIPSIS = /…|\.\.\./g;

const symbols: Rule<'symbols'> = (view, cfg) => {
  const sample = view.text.length > view.sampleChars ? view.text.slice(0, view.sampleChars) : view.text;
  const hashtags = sample.match(HASHTAG)?.length ?? 0;
  const ellipses = sample.match(ELLIPSIS)?.length ?? 0;
  if (hashtags + ellipses === 0) return null;
  const words = view.words().length;
  const ratio = (hashtags + ellipses) / Math.max(1, words);
  if (ratio <= cfg.maxRatio) return null;
  return {
    reason: 'filter.symbols',
    detail: `${hashtags} hashtags and ${ellipses} ellipses for ${words} words (${ratio.toFixed(3)} per word), maximum ${cfg.maxRatio}`,
  };
};

const BULLET = /^(?:[•‣⁃⁌⁍∙○●◘◦⦾⦿▪▫■□►▶➢➤✓✔☐☑]|[-*–—·](?=\s))/u;

const bulletLines: Rule<'bulletLines'> = (view, cfg) => {
  const n = view.lines.length;
  if (n < cfg.minLines || n === 0) return null;
  let bullets = 0;
  for (const line of view.lines) if (BULLET.test(line)) bullets++;
  const ratio = bullets / n;
  if (ratio <= cfg.maxRatio) return null;
  return { reason: 'filter.bullet_lines', detail: `${bullets} of ${n} lines (${pct(ratio)}) start with a bullet, maximum ${pct(cfg.maxRatio)}` };
};

const ellipsisLines: Rule<'ellipsisLines'> = (view, cfg) => {
  const n = view.lines.length;
  if (n < cfg.minLines || n === 0) return null;
  let cut = 0;
  for (const line of view.lines) if (line.endsWith('…') || line.endsWith('...')) cut++;
  const ratio = cut / n;
  if (ratio <= cfg.maxRatio) return null;
  return { reason: 'filter.ellipsis_lines', detail: `${cut} of ${n} lines (${pct(ratio)}) end in an ellipsis, maximum ${pct(cfg.maxRatio)}` };
};

/** Below this many words n-gram shares say more about the length than the text. */
export const MIN_WORDS_FOR_NGRAMS = 20;

/** The most frequent word n-gram and the share of all word characters its occurrences cover. */
function topNgram(words: readonly string[], n: number, totalChars: number): { gram: string; share: number } {
  const counts = new Map<string, number>();
  let best = { gram: '', count: 0 };
  for (let i = 0; i + n <= words.length; i++) {
    const gram = words.slice(i, i + n).join(' ');
    const c = (counts.get(gram) ?? 0) + 1;
    counts.set(gram, c);
    if (c > best.count) best = { gram, count: c };
  }
  const gramChars = best.gram.length - (n - 1);
  return { gram: best.gram, share: totalChars === 0 ? 0 : (best.count * gramChars) / totalChars };
}

const repeatedNgrams: Rule<'repeatedNgrams'> = (view, cfg) => {
  if (view.words().length < MIN_WORDS_FOR_NGRAMS) return null;
  const words = view.words().map((w) => w.toLowerCase());
  let totalChars = 0;
  for (const w of words) totalChars += w.length;
  for (const [n, max] of [
    [2, cfg.max2],
    [3, cfg.max3],
    [4, cfg.max4],
  ] as const) {
    const top = topNgram(words, n, totalChars);
    if (top.share > max) {
      const shown = top.gram.length > 60 ? `${top.gram.slice(0, 60)}…` : top.gram;
      return {
        reason: 'filter.repeated_ngrams',
        detail: `the ${n}-gram "${shown}" covers ${pct(top.share)} of the word characters, maximum ${pct(max)}`,
      };
    }
  }
  return null;
};

/** The first rule, in this order, that the text fails; null when it passes them all. */
export function qualityVerdict(view: TextView, rules: QualityRulesConfig): RuleVerdict | null {
  const checks: Array<() => RuleVerdict | null> = [
    () => (rules.linePunctuation.enabled ? linePunctuation(view, rules.linePunctuation) : null),
    () => (rules.duplicateLines.enabled ? duplicateLines(view, rules.duplicateLines) : null),
    () => (rules.boilerplate.enabled ? boilerplate(view, rules.boilerplate) : null),
    () => (rules.symbols.enabled ? symbols(view, rules.symbols) : null),
    () => (rules.bulletLines.enabled ? bulletLines(view, rules.bulletLines) : null),
    () => (rules.ellipsisLines.enabled ? ellipsisLines(view, rules.ellipsisLines) : null),
    () => (rules.repeatedNgrams.enabled ? repeatedNgrams(view, rules.repeatedNgrams) : null),
  ];
  for (const check of checks) {
    const verdict = check();
    if (verdict !== null) return verdict;
  }
  return null;
}
