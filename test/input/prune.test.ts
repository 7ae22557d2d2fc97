import { describe, expect, it } from 'vitest';
import { pruneHtml } from '../../src/input/prune.js';

const prose = 'The tide table lists high and low water for every day of the month, computed from the harbour gauge.';

describe('pruneHtml', () => {
  it('drops navigation, forms and hidden elements everywhere, and chrome only outside article and main', () => {
    const html = `<html><head><title>T</title><meta name="x" content="y"><link rel="stylesheet" href="s.css"></head><body>
<header>Site header</header><nav>Menu</nav><aside>Side</aside>
<div hidden>h1</div><div aria-hidden="true">h2</div><p style="color: red; display:none">h3</p><div style="visibility: hidden">h4</div>
<div role="navigation">roles</div><form><p>Sign up</p></form>
<article><header>Article header</header><p>${prose}</p><aside>Article aside</aside><footer>Article footer</footer></article>
<footer>Site footer</footer></body></html>`;
    const out = pruneHtml(html).html;
    for (const kept of ['<title>T</title>', 'Article header', prose, 'Article aside', 'Article footer']) expect(out).toContain(kept);
    for (const dropped of ['Site header', 'Menu', 'Side', 'h1', 'h2', 'h3', 'h4', 'roles', 'Sign up', 'Site footer', '<meta', '<link']) expect(out).not.toContain(dropped);
  });

  it('drops a block whose text is mostly link text, keeps prose with a few links', () => {
    const links = Array.from({ length: 6 }, (_, i) => `<div><a href="/s/${i}">Story number ${i} of the day</a></div>`).join('');
    const html = `<body><div class="popular"><b>Popular</b>${links}</div>
<div class="story"><p>${prose} See <a href="/a">the gauge</a>, <a href="/b">the chart</a> and <a href="/c">the archive</a>.</p></div></body>`;
    const { html: out, elements } = pruneHtml(html);
    expect(out).not.toContain('Story number');
    expect(out).not.toContain('Popular');
    expect(out).toContain('the archive</a>.</p>');
    // body, the story div, p and three links.
    expect(elements).toBe(6);
  });

  it('keeps text as text: markup-like characters are escaped again, styling elements are unwrapped', () => {
    const { html: out } = pruneHtml('<p>if a &lt; b &amp;&amp; c &gt; d then <em>&lt;script&gt;</em> is <span class="k">text</span> <a href="#n1" onclick="x()">[1]</a></p>');
    expect(out).toBe('<p>if a &lt; b &amp;&amp; c &gt; d then &lt;script&gt; is <span class="k">text</span> <a href="#n1">[1]</a></p>');
    // MathML is text (formulas), unlike SVG.
    expect(pruneHtml('<p>Area <math><mi>r</mi></math><svg><text>icon</text></svg></p>').html).toBe('<p>Area <math><mi>r</mi></math></p>');
  });

  it('counts the text left on the page, in article and in main, without what it dropped, and reads the title', () => {
    const links = Array.from({ length: 5 }, (_, i) => `<li><a href="/s/${i}">Story ${i}</a></li>`).join('');
    const html = `<html><head><title>  Tide
      tables </title></head><body><nav>Menu entries</nav><div>Outside</div>
<main><article><p>${prose}</p><ul>${links}</ul></article><p>Under the article</p></main></body></html>`;
    const pruned = pruneHtml(html);
    expect(pruned.title).toBe('Tide tables');
    // The link list inside the article is link-dense: dropped, and its text no longer counted anywhere.
    expect(pruned.html).not.toContain('Story 0');
    expect(pruned.articleTextLength).toBe(prose.length);
    expect(pruned.mainTextLength).toBe(prose.length + 'Under the article'.length);
    expect(pruned.textLength).toBe(prose.length + 'Under the article'.length + 'Outside'.length);
    expect(pruneHtml('<body><p>x</p></body>')).toMatchObject({ title: null, articleTextLength: 0, mainTextLength: 0, textLength: 1 });
  });

  it('stops past maxElements, counting dropped elements too', () => {
    expect(pruneHtml('<nav>' + '<a>x</a>'.repeat(10) + '</nav>', 10)).toMatchObject({ tooLarge: true, html: '' });
    expect(pruneHtml('<nav>' + '<a>x</a>'.repeat(9) + '</nav>', 10)).toMatchObject({ tooLarge: false, elements: 0 });
  });

  it('counts elements and depth, and stays linear on a page nested 20,000 deep', () => {
    expect(pruneHtml('<div><div><p>x</p></div></div>')).toMatchObject({ elements: 3, depth: 3 });
    const deep = '<div>'.repeat(20_000) + 'deep' + '</div>'.repeat(20_000);
    const t = performance.now();
    const pruned = pruneHtml(deep);
    expect(pruned.depth).toBe(20_000);
    expect(pruned.html).toContain('deep');
    expect(performance.now() - t).toBeLessThan(5_000);
  });
});
