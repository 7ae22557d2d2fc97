/**
 * Sentence punctuation across scripts: what ends a sentence, and what marks a question. English
 * rules that look for "." or "?" alone call every Chinese, Arabic or Hindi sentence unfinished.
 */

/**
 * Marks that end a question: ASCII and full-width `?`, Arabic `؟` (also Persian and Urdu), Greek
 * `;` (U+037E, the Greek question mark), Armenian `՞`, Ethiopic `፧`, and the interrobang forms.
 */
export const QUESTION_MARKS = '?？؟\u037e՞፧⁇⁈⁉‽⸮﹖';

/**
 * Marks that end a sentence: the question marks, `.` `!` and the ellipsis, CJK `。` `！` `．` `｡`,
 * Devanagari and Bengali danda `।` `॥`, Urdu `۔`, Armenian `։`, Ethiopic `።`, Myanmar `။`, Khmer
 * `។` `៕`, Tibetan shad `།`.
 */
export const TERMINAL_PUNCTUATION = `${QUESTION_MARKS}.!…‼。！．｡।॥۔։።။។៕།`;

/** Closing quotes and brackets that may follow the final mark ("He left." / 「行った。」). */
const CLOSERS = `"'”’»›)]}）］｝」』】〉》〕`;

const TERMINAL = new Set(TERMINAL_PUNCTUATION);
const CLOSER = new Set(CLOSERS);
const QUESTION = new Set(QUESTION_MARKS);

/** Whether a line ends a sentence: its last mark, after closing quotes and brackets, is terminal. */
export function endsWithTerminalPunctuation(line: string): boolean {
  let i = line.length - 1;
  while (i >= 0 && (line[i] === ' ' || line[i] === '\t' || CLOSER.has(line[i] ?? ''))) i--;
  return i >= 0 && TERMINAL.has(line[i] ?? '');
}

/** Whether the text holds a question mark of any script. */
export function hasQuestionMark(text: string): boolean {
  for (const ch of text) if (QUESTION.has(ch)) return true;
  return false;
}
