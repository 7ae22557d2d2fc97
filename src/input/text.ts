/** Text clean-up shared by the HTML extractors. */

/** Spaces collapsed within lines, blank runs collapsed to one empty line, ends trimmed. */
export function normaliseWhitespace(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[\s\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
