/**
 * Generated article pages for the sources bench and the extraction-quality tests: a news-like
 * layout (header, a 120-link menu, a 40-story sidebar, footer, inline script, style and SVG
 * sprite) around 6-14 paragraphs of seeded pseudo-text with links and emphasis. Each page comes
 * with the text of its article paragraphs and of its chrome, so a test can check that an
 * extractor keeps the one and drops the other.
 */

const WORDS = (
  'the river valley harbour station measured seasonal growth winter summer tide current council report engineers ' +
  'students library market bridge railway century settlers farmers mountain glacier coastal village festival ' +
  'museum archive journal survey climate rainfall drought orchard vineyard factory workshop cathedral castle'
).split(' ');

/** A seeded generator (mulberry32): the same pages on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sentence(rand: () => number): string {
  const n = 8 + Math.floor(rand() * 14);
  const words = Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)] ?? 'the');
  const s = words.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1) + '.';
}

export function paragraph(rand: () => number): string {
  return Array.from({ length: 3 + Math.floor(rand() * 6) }, () => sentence(rand)).join(' ');
}

/** A paragraph as pages write it: a link or emphasis every sentence or two; its HTML and its text. */
function richParagraph(rand: () => number): { html: string; text: string } {
  const sentences = Array.from({ length: 3 + Math.floor(rand() * 6) }, (_, k) => {
    const s = sentence(rand);
    if (k % 3 === 0) return { html: `<a href="/topic/${Math.floor(rand() * 1000)}">${s}</a>`, text: s };
    if (k % 3 === 1) return { html: `<em>${s}</em>`, text: s };
    return { html: s, text: s };
  });
  return { html: sentences.map((s) => s.html).join(' '), text: sentences.map((s) => s.text).join(' ') };
}

export interface NewsPage {
  html: string;
  /** The article's paragraphs as text, in order. */
  paragraphs: string[];
  /** Text that is site chrome: menu entries, sidebar stories, the footer line. */
  chrome: string[];
}

/**
 * `markup: false` writes the article as plain `div`s (no `main`, no `article`), as many older or
 * template-built pages do: the default extractor then finds it by its paragraphs, not its markup.
 */
export function newsPage(i: number, rand: () => number, options: { markup?: boolean } = {}): NewsPage {
  const nav = Array.from({ length: 120 }, (_, k) => `<li class="menu-item"><a href="/section/${k}"><span>Section ${k}</span></a></li>`).join('');
  const stories = Array.from({ length: 40 }, () => sentence(rand));
  const side = stories.map((s, k) => `<li><a href="/story/${i}-${k}"><img src="/t/${k}.jpg" alt=""><span>${s}</span></a></li>`).join('');
  const paragraphs = Array.from({ length: 6 + Math.floor(rand() * 9) }, () => richParagraph(rand));
  const paras = paragraphs.map((p) => `<p>${p.html}</p>`).join('\n');
  const script = `<script>var cfg = ${JSON.stringify({ id: i, tags: Array.from({ length: 150 + Math.floor(rand() * 250) }, (_, k) => `tag-${k}-${sentence(rand)}`) })};</script>`;
  const icons = `<svg style="display:none">${Array.from({ length: 40 }, (_, k) => `<symbol id="i${k}"><path d="M${k} 0L${k + 5} 10Z"/></symbol>`).join('')}</svg>`;
  const style = `<style>${Array.from({ length: 120 }, (_, k) => `.c${k} { margin: ${k}px; padding: ${k % 7}px; }`).join('\n')}</style>`;
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Story ${i}</title>${style}${script}</head>
<body>${icons}<header><a href="/">Daily Valley</a><nav><ul>${nav}</ul></nav></header>
<div class="wrap"><aside><h3>Most read</h3><ul>${side}</ul></aside>
${options.markup === false ? '<div class="content"><div class="story">' : '<main><article>'}<h1>${sentence(rand)}</h1><p class="byline">By a staff writer</p>
${paras}
${options.markup === false ? '</div></div>' : '</article></main>'}</div>
<footer><p>Copyright Daily Valley. All rights reserved.</p><ul>${nav}</ul></footer></body></html>`;
  const chrome = ['Daily Valley', 'Section 7', 'Section 119', 'Most read', ...stories, 'All rights reserved', 'var cfg', 'margin:'];
  return { html, paragraphs: paragraphs.map((p) => p.text), chrome };
}
