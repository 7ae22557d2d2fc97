/**
 * HTML pages to plain text. Bytes become text with the charset the page was served with (the
 * HTTP Content-Type header), else the one it declares itself (BOM, `<meta charset>`,
 * `<meta http-equiv>`, found by html-encoding-sniffer, the WHATWG prescan jsdom uses); an
 * undeclared page is tried as UTF-8, then as windows-1252 (the web's legacy default). Decoding is
 * strict, so bytes that the declared charset cannot hold are a rejection, not mojibake. The
 * decoders are @exodus/bytes' WHATWG ones: Node 20's own TextDecoder reads windows-1252 as
 * ISO-8859-1 (0x80-0x9F become control characters instead of quotes and dashes).
 *
 * A pruning pass without a DOM (prune.ts) first drops what can never be main content. A page
 * whose markup then marks one clear main text (one `article`, or one `main`, holding most of what
 * is left) gives that element's text, with no DOM; else, on a DOM of what is left, one element
 * that holds nearly all the page's paragraphs gives its text: the order trafilatura uses too, the
 * page's own structure first and a scoring extractor as the fallback. Otherwise main content comes from Mozilla
 * Readability (Firefox's Reader View) on linkedom, a light DOM, which after the pruning holds
 * tens of elements instead of a thousand; pages Readability finds nothing in, or that are still
 * too big or too deep for it, fall back to the body extractor (sax-text.ts: the body without
 * navigation, header, footer and aside, no DOM) on the pruned page.
 * Block elements become line breaks, so paragraphs survive as lines.
 */
import { TextDecoder } from '@exodus/bytes/encoding.js';
import htmlEncodingSniffer from 'html-encoding-sniffer';
import { parseHTML } from 'linkedom';
import { Readability } from '@mozilla/readability';
import { EXTRACTORS, type ExtractionPath, type Extractor } from './extractors.js';
import { pruneHtml, type Pruned } from './prune.js';
import { bodyText } from './sax-text.js';
import { normaliseWhitespace } from './text.js';

export { EXTRACTORS, normaliseWhitespace, type ExtractionPath, type Extractor };

export type Decoded = { ok: true; text: string; charset: string } | { ok: false; charset: string; detail: string };

/** The `charset` parameter of a Content-Type value, if any. */
export function charsetOf(contentType: string | null | undefined): string | undefined {
  if (!contentType) return undefined;
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return match?.[1];
}

function decodeStrict(bytes: Uint8Array, charset: string): string | Error {
  try {
    return new TextDecoder(charset, { fatal: true }).decode(bytes);
  } catch (err) {
    return err as Error;
  }
}

/** Decodes an HTML page's bytes; `transportCharset` is the charset of the HTTP header, if any. */
export function decodeHtml(bytes: Uint8Array, transportCharset?: string): Decoded {
  const options: Parameters<typeof htmlEncodingSniffer>[1] = { defaultEncoding: '', maxPrescanBytes: 4096 };
  if (transportCharset !== undefined) options.transportLayerEncodingLabel = transportCharset;
  const declared = htmlEncodingSniffer(bytes, options);
  if (declared === '') {
    const utf8 = decodeStrict(bytes, 'utf-8');
    if (typeof utf8 === 'string') return { ok: true, text: utf8, charset: 'UTF-8' };
    return { ok: true, text: new TextDecoder('windows-1252').decode(bytes), charset: 'windows-1252' };
  }
  const text = decodeStrict(bytes, declared);
  if (typeof text === 'string') return { ok: true, text, charset: declared };
  return { ok: false, charset: declared, detail: `bytes are not valid ${declared}` };
}

const SKIPPED_ELEMENTS = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'IFRAME', 'OBJECT', 'CANVAS', 'SELECT', 'BUTTON']);
const BOILERPLATE_ELEMENTS = new Set(['NAV', 'HEADER', 'FOOTER', 'ASIDE', 'FORM', 'MENU']);
const BLOCK_ELEMENTS = new Set([
  'ADDRESS', 'ARTICLE', 'BLOCKQUOTE', 'BR', 'CAPTION', 'DD', 'DIV', 'DL', 'DT', 'FIGCAPTION', 'FIGURE', 'H1', 'H2', 'H3',
  'H4', 'H5', 'H6', 'HR', 'LI', 'MAIN', 'OL', 'P', 'PRE', 'SECTION', 'TABLE', 'TD', 'TH', 'TR', 'UL', 'BODY', 'SUMMARY', 'DETAILS',
]);

interface DomNode {
  nodeType: number;
  nodeName: string;
  nodeValue: string | null;
  childNodes: ArrayLike<DomNode>;
}

/** Text of a DOM subtree, block elements on lines of their own. Iterative: pages nest deep. */
export function textOf(root: DomNode, dropBoilerplate = false): string {
  const parts: string[] = [];
  // A stack of nodes to visit, and of '\n' markers for the ends of block elements.
  const stack: (DomNode | '\n')[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as DomNode | '\n';
    if (node === '\n') {
      parts.push('\n');
      continue;
    }
    if (node.nodeType === 3) {
      parts.push(node.nodeValue ?? '');
      continue;
    }
    if (node.nodeType !== 1 && node.nodeType !== 9 && node.nodeType !== 11) continue;
    const name = node.nodeName.toUpperCase();
    if (SKIPPED_ELEMENTS.has(name) || (dropBoilerplate && BOILERPLATE_ELEMENTS.has(name))) continue;
    const block = BLOCK_ELEMENTS.has(name);
    if (block) {
      parts.push('\n');
      stack.push('\n');
    }
    const children = node.childNodes;
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as DomNode);
  }
  return normaliseWhitespace(parts.join(''));
}

export interface Extracted {
  text: string;
  title: string | null;
  extractor: ExtractionPath;
}

/**
 * Element budgets: Readability's time grows faster than the element count (on a loaded 2-core
 * machine: about 20 ms of CPU at 800 elements, 0.5 s at 11,000), so pages that keep more than
 * MAX_READABILITY_ELEMENTS after pruning go to the body extractor; pages with more than
 * MAX_PAGE_ELEMENTS start tags (counted before any DOM, dropped elements included) are
 * `input.too_large`: building the DOM alone costs linkedom about 13 us of CPU per element.
 */
const MAX_READABILITY_ELEMENTS = 5_000;
export const MAX_PAGE_ELEMENTS = 100_000;

/** Start tags in the markup: a bound on the elements the parser will build. */
export function countStartTags(html: string, stopAfter = Infinity): number {
  let count = 0;
  const tag = /<[a-zA-Z]/g;
  while (tag.exec(html) !== null) if (++count > stopAfter) break;
  return count;
}

export class TooManyElementsError extends Error {}
/**
 * Readability's time grows faster than the square of the nesting depth (measured: 3 ms at depth
 * 8, 146 ms at 50, 400 ms at 100, 4.4 s at 400, 75 s at 1,000); deeper pages go to the body
 * extractor, which stays linear. Real pages nest 10-40 deep.
 */
const MAX_READABILITY_DEPTH = 64;

/**
 * Elements whose content is never text, removed from the markup before it is parsed: inline
 * scripts, styles and SVG are often most of a page's bytes, and every node costs linkedom an
 * object. Comments go too. The patterns are non-greedy and stop at the first closing tag, as an
 * HTML parser does for script and style.
 */
const NON_TEXT_MARKUP = /<(script|style|svg|noscript|template)\b[^>]*>[\s\S]*?<\/\1\s*>|<!--[\s\S]*?-->/gi;

export function stripNonText(html: string): string {
  return html.replace(NON_TEXT_MARKUP, ' ');
}

/**
 * `linkDensityModifier` (Readability 0.6, missing from its type declarations): link-dense blocks
 * are gone already (past 0.5, in prune.ts). Readability's own cut for low-weight blocks is a link
 * density of 0.2, which an article with a link every few sentences passes: it then removed the
 * article itself and parsed the page three more times, the last with conditional cleaning off.
 * +0.3 puts its cut where the pruning's is. JSON-LD lives in scripts, which are gone too; the
 * result becomes text, so Readability need not strip its class attributes (`keepClasses`).
 */
const READABILITY_OPTIONS = {
  maxElemsToParse: MAX_READABILITY_ELEMENTS * 2,
  linkDensityModifier: 0.3,
  disableJSONLD: true,
  keepClasses: true,
  serializer: (el: unknown) => el,
} as ConstructorParameters<typeof Readability<unknown>>[1];

/**
 * When the pruned page's own markup is taken as its main text (`auto`): one `article` element (or,
 * with no article, one `main`) that holds at least MIN_MARKUP_TEXT characters and at least
 * MIN_MARKUP_SHARE of the text the pruning left. Several articles (a listing, a feed), a short
 * one (a teaser) or one beside more text elsewhere go to Readability, which scores the page.
 * MIN_MARKUP_TEXT is Readability's own bar for an article (its `charThreshold`).
 */
const MIN_MARKUP_TEXT = 500;
const MIN_MARKUP_SHARE = 0.5;

/** The one `<tag>` element of pruned HTML (lower-case tags, written by prune.ts), or null. */
function onlyElement(html: string, tag: 'article' | 'main'): string | null {
  const open = new RegExp(`<${tag}[ >]`, 'g');
  const first = open.exec(html);
  if (first === null || open.exec(html) !== null) return null;
  const end = html.indexOf(`</${tag}>`, first.index);
  return end === -1 ? null : html.slice(first.index, end + tag.length + 3);
}

/** The main text from the page's article markup, when it marks one clear main text (see above). */
function markupText(pruned: Pruned): string | null {
  let root: string | null = null;
  let rootText = 0;
  if (pruned.articleTextLength > 0) {
    root = onlyElement(pruned.html, 'article');
    rootText = pruned.articleTextLength;
  } else if (pruned.mainTextLength > 0) {
    root = onlyElement(pruned.html, 'main');
    rootText = pruned.mainTextLength;
  }
  if (root === null || rootText < MIN_MARKUP_TEXT || rootText < pruned.textLength * MIN_MARKUP_SHARE) return null;
  const text = bodyText(root);
  return text.length >= MIN_MARKUP_TEXT ? text : null;
}

/**
 * With no article markup, `auto` still skips Readability when one element is the parent of nearly
 * all of the page's paragraphs (PARAGRAPH_SHARE of the text in `p` elements, MIN_MARKUP_TEXT at
 * least, and MIN_MARKUP_SHARE of all the text the pruning left): the element Readability's own
 * scoring (each paragraph's score credited to its parent, half to its grandparent) would rank
 * first. Paragraphs spread over several containers, or text outside paragraphs, go to Readability.
 */
const PARAGRAPH_SHARE = 0.8;

/** What the paragraph count reads of a linkedom element (a paragraph or its parent). */
interface ParagraphNode {
  parentNode: ParagraphNode | null;
  textContent: string | null;
}

function paragraphContainer(document: { getElementsByTagName(name: string): ArrayLike<ParagraphNode> }, pruned: Pruned): DomNode | null {
  const paragraphs = document.getElementsByTagName('p');
  const byParent = new Map<ParagraphNode, number>();
  let all = 0;
  let best: ParagraphNode | null = null;
  let bestText = 0;
  for (let i = 0; i < paragraphs.length; i++) {
    const p = paragraphs[i] as ParagraphNode;
    const parent = p.parentNode;
    const length = (p.textContent ?? '').trim().length;
    all += length;
    if (parent === null) continue;
    const sum = (byParent.get(parent) ?? 0) + length;
    byParent.set(parent, sum);
    if (sum > bestText) {
      best = parent;
      bestText = sum;
    }
  }
  if (best === null || bestText < MIN_MARKUP_TEXT || bestText < all * PARAGRAPH_SHARE || bestText < pruned.textLength * MIN_MARKUP_SHARE) return null;
  return best as unknown as DomNode;
}

/**
 * The main text of an HTML page. `auto` and `readability` prune the page first (prune.ts: one
 * htmlparser2 pass drops navigation, chrome, hidden and link-dense blocks); `auto` then takes the
 * page's one article when its markup marks one clearly (markupText), or the one element holding
 * its paragraphs (paragraphContainer), and otherwise, like `readability`, runs Readability on a
 * DOM of what is left, so linkedom and Readability see a fraction of its elements; the element
 * and depth budgets apply to what is left.
 */
export function extractMainText(rawHtml: string, extractor: Extractor = 'auto'): Extracted {
  const html = stripNonText(rawHtml);
  const tooLarge = (): Error => new TooManyElementsError(`more than ${MAX_PAGE_ELEMENTS} elements`);
  if (extractor === 'body') {
    if (countStartTags(html, MAX_PAGE_ELEMENTS) > MAX_PAGE_ELEMENTS) throw tooLarge();
    return { text: bodyText(html), title: null, extractor: 'body' };
  }
  // The pruning pass counts start tags itself and stops past the limit, before any DOM.
  const pruned = pruneHtml(html, MAX_PAGE_ELEMENTS);
  if (pruned.tooLarge) throw tooLarge();
  if (extractor === 'auto') {
    const text = markupText(pruned);
    if (text !== null) return { text, title: pruned.title, extractor: 'markup' };
  }
  if (pruned.elements > MAX_READABILITY_ELEMENTS || pruned.depth > MAX_READABILITY_DEPTH) {
    return { text: bodyText(pruned.html), title: pruned.title, extractor: 'body' };
  }
  const { document } = parseHTML(pruned.html);
  const title = pruned.title;
  if (extractor === 'auto') {
    const container = paragraphContainer(document as never, pruned);
    const text = container === null ? '' : textOf(container);
    if (text.length >= MIN_MARKUP_TEXT) return { text, title, extractor: 'paragraphs' };
  }
  try {
    // linkedom's document stands in for the DOM types Readability is declared with.
    const article = new Readability<unknown>(document as never, READABILITY_OPTIONS).parse();
    const root = article?.content as unknown as DomNode | null | undefined;
    if (root) {
      const text = textOf(root);
      if (text.length > 0) return { text, title: article?.title?.trim() || title, extractor: 'readability' };
    }
  } catch {
    // A DOM Readability cannot walk: the body extractor below.
  }
  return { text: bodyText(pruned.html), title, extractor: 'body' };
}

/** The main text and its path, or the error that stopped extraction (one hostile page must not end its file). */
export function extractSafely(html: string, extractor: Extractor = 'auto'): Extracted | Error {
  try {
    return extractMainText(html, extractor);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
