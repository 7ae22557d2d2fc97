/**
 * Cutting a document to a length: the one way the pipeline shortens text (size rule, prompt
 * length, context fit), so every cut ends on a word boundary and is counted the same way.
 */

export interface CutText {
  text: string;
  /** Characters removed from the end (0 when the text fit). */
  cut: number;
}

/**
 * Keep at most `max` characters. Prefer to stop at the last whitespace when it lies in the final
 * tenth of the budget (a cut mid-word confuses models and looks like garbage to the filter); a
 * surrogate pair is never split.
 */
export function cutText(text: string, max: number): CutText {
  if (text.length <= max) return { text, cut: 0 };
  let end = max;
  const floor = Math.floor(max * 0.9);
  for (let i = max; i > floor; i--) {
    if (/\s/.test(text[i] ?? '')) {
      end = i;
      break;
    }
  }
  const code = text.charCodeAt(end - 1);
  if (end > 0 && code >= 0xd800 && code <= 0xdbff) end--;
  const kept = text.slice(0, end).trimEnd();
  return { text: kept, cut: text.length - kept.length };
}
