/**
 * Lenient JSON extraction for model output. Servers without schema support and small models wrap
 * JSON in code fences, prepend chatter, or leave trailing commas. We cut the first balanced JSON
 * object out of the text and repair only those harmless slips; anything else is a parse error the
 * caller turns into a re-ask. Written by hand: the repairs are three small, well-bounded rules,
 * and a general "JSON repair" library guesses far more than we want to accept.
 */

export type LenientParse = { ok: true; value: unknown } | { ok: false; error: string };

/** Index just past the balanced `{...}` that starts at `start`, or -1 when it never closes. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Remove commas that directly precede a closing bracket, outside strings. */
function dropTrailingCommas(json: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i] as string;
    if (inString) {
      out += ch;
      if (ch === '\\') {
        out += json[i + 1] ?? '';
        i++;
      } else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    if (ch === ',') {
      const rest = json.slice(i + 1).trimStart();
      if (rest.startsWith('}') || rest.startsWith(']')) continue;
    }
    out += ch;
  }
  return out;
}

export function parseLenientJson(raw: string): LenientParse {
  const text = raw.replace(/^\uFEFF/, '').trim();
  if (text.length === 0) return { ok: false, error: 'empty output' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    // fall through to the repairs below
  }
  const start = text.indexOf('{');
  if (start < 0) return { ok: false, error: 'no JSON object in output' };
  const end = balancedEnd(text, start);
  if (end < 0) return { ok: false, error: 'unterminated JSON object (output cut short?)' };
  const candidate = dropTrailingCommas(text.slice(start, end));
  try {
    return { ok: true, value: JSON.parse(candidate) };
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
}
