/**
 * Pruning before the DOM: one htmlparser2 pass that drops what can never be a page's main
 * content and writes the rest back out as smaller HTML, so linkedom builds, and Readability
 * walks, a fraction of the elements. linkedom spends about 10 us of CPU per element and
 * Readability walks the tree several times, while this pass costs about 1 us per element.
 *
 * Dropped, with everything inside them:
 * - elements that hold no text (scripts, styles, SVG, forms and their controls, iframes,
 *   images) and comments;
 * - navigation and menus (`nav`, `menu`, the ARIA roles navigation, menu, menubar, dialog,
 *   alert...), everywhere;
 * - headers, footers and asides (and role banner, contentinfo, complementary) outside an
 *   `article` or `main` (an article's own header holds its title);
 * - hidden elements (`hidden`, `aria-hidden="true"`, `display: none`, `visibility: hidden`),
 *   as Readability's own visibility test does;
 * - link-dense blocks: a list, table or `div`-like container whose text is mostly link text
 *   (a menu, a "most read" sidebar, a footer's link farm) even when no tag or role says so.
 *   Readability's conditional cleaning drops such blocks from its result too; doing it here
 *   keeps them out of the DOM altogether.
 *
 * The head keeps only its `title` (Readability's title heuristics use it). Kept elements keep
 * only the attributes Readability scores with (`id`, `class`, and `href` when it is an in-page
 * `#` link); text is re-escaped.
 *
 * Deciding a block's link density needs its whole text, so each candidate block writes into a
 * buffer of its own that is attached to its parent's, or thrown away, when it closes: nested
 * arrays, flattened once at the end, so the output costs linear time however deep the page.
 */
import { Parser } from 'htmlparser2';

/** Elements dropped with their content wherever they are. */
const DROPPED = new Set([
  'script', 'style', 'noscript', 'template', 'svg', 'iframe', 'object', 'embed', 'canvas', 'video', 'audio',
  'select', 'button', 'input', 'textarea', 'form', 'nav', 'menu', 'dialog', 'link', 'meta', 'base',
  'img', 'picture', 'source', 'track', 'map', 'area', 'param', 'wbr', 'keygen',
]);
/** Site chrome unless inside an article or main element. */
const CHROME = new Set(['header', 'footer', 'aside']);
const CONTENT_ROOTS = new Set(['article', 'main']);
const DROPPED_ROLES = new Set(['navigation', 'menu', 'menubar', 'dialog', 'alert', 'alertdialog', 'search', 'toolbar', 'tablist']);
const CHROME_ROLES = new Set(['banner', 'contentinfo', 'complementary']);
/** Containers whose link density is measured; paragraphs and headings are never dropped for it. */
const LINK_BLOCKS = new Set(['div', 'section', 'ul', 'ol', 'dl', 'table', 'td', 'center']);
/** Elements with no end tag: written as `<br>` and never pushed on the stack. */
const VOID = new Set(['br', 'hr', 'col']);
/**
 * Phrasing elements that only style their text: their text is kept, the element is not (a
 * quarter of an article's elements are often emphasis). Spans with an id or class stay, since
 * Readability reads those; links stay, since it measures link density.
 */
const UNWRAPPED = new Set(['em', 'strong', 'b', 'i', 'u', 'mark', 'abbr', 'dfn', 'time', 'font', 'small', 'bdi', 'span']);
const KEPT_ATTRIBUTES = ['id', 'class'] as const;

/**
 * A block is link-dense when link text is more than this share of its text and it holds at
 * least MIN_LINKS links: Readability drops lists and containers past 0.5 (its
 * `_cleanConditionally`), and prose with a few inline links stays far below it.
 */
const MAX_LINK_DENSITY = 0.5;
const MIN_LINKS = 3;

export interface Pruned {
  /** The reduced page ('' when the page has more than `maxElements`). */
  html: string;
  /** The text of the page's `title` element, whitespace collapsed; null when it has none. */
  title: string | null;
  /** Characters of text written out (each run trimmed): what is left of the page to read. */
  textLength: number;
  /** Of `textLength`, inside `article` elements, and inside `main` elements. */
  articleTextLength: number;
  mainTextLength: number;
  /** The page has more start tags than `maxElements`: the pass stopped there. */
  tooLarge: boolean;
  /** Elements written out. */
  elements: number;
  /** The deepest element nesting written out. */
  depth: number;
}

type Parts = (string | Parts)[];

interface Open {
  name: string;
  /** This element and its content are not written (it or an ancestor was dropped). */
  dropped: boolean;
  /** The element's tags are not written, its content is. */
  unwrapped: boolean;
  /** The element writes into a buffer of its own, kept or thrown away when it closes. */
  buffer: Parts | null;
  textLength: number;
  linkTextLength: number;
  links: number;
  /** Elements written inside the buffer, so a thrown-away block is not counted. */
  elements: number;
}

const DROPPED_ENTRY: Readonly<Open> = { name: '', dropped: true, unwrapped: false, buffer: null, textLength: 0, linkTextLength: 0, links: 0, elements: 0 };

function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

function escapeAttribute(s: string): string {
  return s.replace(/[&"]/g, (c) => (c === '&' ? '&amp;' : '&quot;'));
}

function isHidden(attribs: Record<string, string>): boolean {
  if ('hidden' in attribs) return true;
  if (attribs['aria-hidden'] === 'true') return true;
  const style = attribs['style'];
  return style !== undefined && /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)/i.test(style);
}

function flatten(root: Parts): string {
  const out: string[] = [];
  // Iterative: buffers nest as deep as the page.
  const stack: [Parts, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as [Parts, number];
    const [parts, i] = top;
    if (i >= parts.length) {
      stack.pop();
      continue;
    }
    top[1] = i + 1;
    const part = parts[i] as string | Parts;
    if (typeof part === 'string') out.push(part);
    else stack.push([part, 0]);
  }
  return out.join('');
}

/** The page without what can never be its main content (see the module comment). */
export function pruneHtml(html: string, maxElements = Infinity): Pruned {
  // Every start tag, dropped or not: the page-size guard, counted here so the page is read once.
  let seen = 0;
  const root: Parts = [];
  let out: Parts = root;
  const stack: Open[] = [];
  let dropping = 0;
  let inContent = 0;
  let inHead = 0;
  let inLink = 0;
  let elements = 0;
  let depth = 0;
  let maxDepth = 0;
  // The nearest open buffered block, which text and links are counted toward.
  const buffered: Open[] = [];
  let inArticle = 0;
  let inMain = 0;
  let inTitle = 0;
  let title = '';
  let textLength = 0;
  let articleTextLength = 0;
  let mainTextLength = 0;

  const drops = (name: string, attribs: Record<string, string>): boolean => {
    if (DROPPED.has(name)) return true;
    if (inHead > 0 && name !== 'title') return true;
    if (inContent === 0 && CHROME.has(name)) return true;
    const role = attribs['role'];
    if (role !== undefined && (DROPPED_ROLES.has(role) || (inContent === 0 && CHROME_ROLES.has(role)))) return true;
    return isHidden(attribs);
  };

  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (++seen > maxElements) {
          parser.pause();
          return;
        }
        if (VOID.has(name)) {
          if (dropping === 0 && inHead === 0) {
            out.push(`<${name}>`);
            countElement();
          }
          return;
        }
        if (name === 'head') inHead++;
        if (dropping > 0 || (name !== 'head' && drops(name, attribs))) {
          // Most of a page's elements sit in dropped subtrees: they share one entry.
          stack.push(DROPPED_ENTRY);
          dropping++;
          return;
        }
        const open: Open = { name, dropped: false, unwrapped: false, buffer: null, textLength: 0, linkTextLength: 0, links: 0, elements: 0 };
        stack.push(open);
        if (CONTENT_ROOTS.has(name)) inContent++;
        if (name === 'article') inArticle++;
        else if (name === 'main') inMain++;
        else if (name === 'title') inTitle++;
        if (name === 'a') {
          inLink++;
          const block = buffered[buffered.length - 1];
          if (block) block.links++;
        }
        if (UNWRAPPED.has(name) && !attribs['id'] && !attribs['class']) {
          open.unwrapped = true;
          return;
        }
        let tag = `<${name}`;
        for (const key of KEPT_ATTRIBUTES) {
          const value = attribs[key];
          if (value !== undefined && value !== '') tag += ` ${key}="${escapeAttribute(value)}"`;
        }
        // Readability weighs in-page links (`#...`) lighter; any other target only costs it a URL parse.
        const href = attribs['href'];
        if (href !== undefined && href.startsWith('#')) tag += ` href="${escapeAttribute(href)}"`;
        out.push(tag + '>');
        countElement();
        depth++;
        if (depth > maxDepth) maxDepth = depth;
        if (LINK_BLOCKS.has(name)) {
          open.buffer = [];
          out.push(open.buffer);
          out = open.buffer;
          buffered.push(open);
        }
      },
      onclosetag(name) {
        if (VOID.has(name)) return;
        const open = stack.pop();
        if (!open) return;
        if (name === 'head') inHead--;
        if (open.dropped) {
          dropping--;
          return;
        }
        if (CONTENT_ROOTS.has(name)) inContent--;
        if (name === 'article') inArticle--;
        else if (name === 'main') inMain--;
        else if (name === 'title') inTitle--;
        if (name === 'a') inLink--;
        if (open.unwrapped) return;
        depth--;
        if (open.buffer) {
          buffered.pop();
          const parent = buffered[buffered.length - 1];
          const linkDense = open.links >= MIN_LINKS && open.linkTextLength > open.textLength * MAX_LINK_DENSITY;
          // The enclosing buffer: the parent block's, or the root.
          out = parent?.buffer ?? root;
          if (linkDense) {
            // Drop the whole block: while it was open it wrote only into its buffer, so the
            // buffer and its start tag before it are the last two parts of the enclosing one.
            out.length -= 2;
            elements -= open.elements + 1;
            if (parent) parent.elements--;
            // Its text is no longer on the page (nor in the article or main it sits in).
            textLength -= open.textLength;
            if (inArticle > 0) articleTextLength -= open.textLength;
            if (inMain > 0) mainTextLength -= open.textLength;
            return;
          }
          if (parent) {
            parent.textLength += open.textLength;
            parent.linkTextLength += open.linkTextLength;
            parent.links += open.links;
            parent.elements += open.elements;
          }
        }
        out.push(`</${name}>`);
      },
      ontext(text) {
        if (dropping > 0) return;
        out.push(escapeText(text));
        if (inTitle > 0) {
          title += text;
          return;
        }
        const length = text.trim().length;
        textLength += length;
        if (inArticle > 0) articleTextLength += length;
        if (inMain > 0) mainTextLength += length;
        const block = buffered[buffered.length - 1];
        if (block) {
          block.textLength += length;
          if (inLink > 0) block.linkTextLength += length;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );

  function countElement(): void {
    elements++;
    const block = buffered[buffered.length - 1];
    if (block) block.elements++;
  }

  parser.end(html);
  const counts = { textLength, articleTextLength, mainTextLength, elements, depth: maxDepth };
  if (seen > maxElements) return { html: '', title: null, tooLarge: true, ...counts };
  const collapsed = title.replace(/\s+/g, ' ').trim();
  return { html: flatten(root), title: collapsed === '' ? null : collapsed, tooLarge: false, ...counts };
}
