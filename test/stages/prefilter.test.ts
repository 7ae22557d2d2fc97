import { describe, expect, it } from 'vitest';
import { prefilter } from '../../src/stages/prefilter.js';
import { cutText } from '../../src/stages/common.js';
import { PROSE, makeConfig, makeDoc } from './helpers.js';

const cfg = makeConfig().pipeline;

function reason(text: string, pipeline = cfg): string {
  const r = prefilter(makeDoc(text), pipeline);
  return r.ok ? 'ok' : r.rejection.reason;
}

const CODE = `// Package lru implements a fixed-size least-recently-used cache.
package lru

import "container/list"

// Cache is safe for use by one goroutine at a time.
type Cache struct {
	capacity int
	order    *list.List
	items    map[string]*list.Element
}

type entry struct {
	key   string
	value []byte
}

// New returns a cache that holds at most capacity entries.
func New(capacity int) *Cache {
	return &Cache{capacity: capacity, order: list.New(), items: make(map[string]*list.Element)}
}

// Get returns the value for key and marks it as recently used.
func (c *Cache) Get(key string) ([]byte, bool) {
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).value, true
}

// Put inserts or updates key, evicting the least recently used entry when full.
func (c *Cache) Put(key string, value []byte) {
	if el, ok := c.items[key]; ok {
		el.Value.(*entry).value = value
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.capacity {
		oldest := c.order.Back()
		if oldest != nil {
			c.order.Remove(oldest)
			delete(c.items, oldest.Value.(*entry).key)
		}
	}
	c.items[key] = c.order.PushFront(&entry{key: key, value: value})
}
`;

const MATH = String.raw`\section{The Gaussian integral}
We show that $\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}$. Let $I = \int_{-\infty}^{\infty} e^{-x^2}\,dx$. Then
\begin{align}
I^2 &= \left(\int_{-\infty}^{\infty} e^{-x^2}\,dx\right)\left(\int_{-\infty}^{\infty} e^{-y^2}\,dy\right) \\
    &= \int_{-\infty}^{\infty}\int_{-\infty}^{\infty} e^{-(x^2+y^2)}\,dx\,dy \\
    &= \int_{0}^{2\pi}\int_{0}^{\infty} e^{-r^2}\, r\,dr\,d\theta \\
    &= 2\pi \cdot \left[-\tfrac{1}{2} e^{-r^2}\right]_{0}^{\infty} = \pi .
\end{align}
Since $I > 0$, we get $I = \sqrt{\pi}$. By the substitution $x = t/\sqrt{2\sigma^2}$ it follows that
$$\int_{-\infty}^{\infty} e^{-t^2/(2\sigma^2)}\,dt = \sigma\sqrt{2\pi},$$
which is exactly the normalising constant of the normal density $f(t) = \frac{1}{\sigma\sqrt{2\pi}} e^{-t^2/(2\sigma^2)}$.
For $\sigma = 1$ this gives $\frac{1}{\sqrt{2\pi}} \approx 0.3989$ at $t = 0$.`;

const TABLE = `Average monthly temperature in Oslo, Norway (degrees Celsius), 1991-2020 normals.
The coldest month is January and the warmest is July; the table lists the daily mean, the mean maximum and the mean minimum.

| Month     | Mean | Max  | Min  |
|-----------|------|------|------|
| January   | -2.3 | 0.4  | -5.1 |
| February  | -2.0 | 1.2  | -5.2 |
| March     | 1.0  | 5.4  | -2.8 |
| April     | 5.6  | 10.8 | 1.0  |
| May       | 10.7 | 16.3 | 5.6  |
| June      | 14.7 | 20.1 | 9.7  |
| July      | 17.2 | 22.6 | 12.3 |
| August    | 16.0 | 21.1 | 11.4 |
| September | 11.6 | 16.0 | 7.6  |
| October   | 6.2  | 9.4  | 3.3  |
| November  | 1.8  | 4.3  | -0.7 |
| December  | -1.6 | 1.0  | -4.2 |

Snow usually covers the ground from December to March, and the city gets fewer than six hours of daylight around the winter solstice.`;

describe('prefilter safety: normal documents pass', () => {
  it('passes prose', () => expect(reason(PROSE)).toBe('ok'));
  it('passes real-looking source code (many closing-brace lines)', () => expect(reason(CODE)).toBe('ok'));
  it('passes LaTeX-heavy mathematics', () => expect(reason(MATH)).toBe('ok'));
  it('passes a document that is mostly a table of numbers', () => expect(reason(TABLE)).toBe('ok'));
  it('passes prose, source code, mathematics and tables with every crawl-quality rule on', () => {
    const allOn = makeConfig({ pipeline: { qualityRules: { repeatedNgrams: true } } }).pipeline;
    for (const text of [PROSE, CODE, MATH, TABLE]) expect(reason(text, allOn)).toBe('ok');
  });
  it('passes non-Latin scripts', () => {
    const greek = 'Η Αθήνα είναι η πρωτεύουσα και μεγαλύτερη πόλη της Ελλάδας, με ιστορία που ξεπερνά τα τρεις χιλιάδες χρόνια. '.repeat(5);
    expect(reason(greek)).toBe('ok');
  });
  it('passes prose with a few replacement characters from a bad decoding', () => {
    expect(reason(PROSE.replace(/e/g, (m, i: number) => (i % 97 === 0 ? '\uFFFD' : m)))).toBe('ok');
  });
  it('passes a short poem-like text with repeated refrain below the line minimum', () => {
    const text = `${PROSE}\nRow, row, row your boat\nRow, row, row your boat\nRow, row, row your boat`;
    expect(reason(text)).toBe('ok');
  });
});

describe('prefilter rules', () => {
  it('rejects documents under minTokens as filter.too_short with counts in detail', () => {
    const r = prefilter(makeDoc('Click here to subscribe to our newsletter.'), cfg);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.rejection).toMatchObject({ doc_id: 'doc-1', stage: 'filter', reason: 'filter.too_short', persona: null, line: null });
    expect(r.rejection.detail).toContain('7 words, minimum 50');
    expect(r.rejection.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0 });
  });

  it('rejects oversize documents when oversize=reject', () => {
    const pipeline = makeConfig({ pipeline: { maxDocumentChars: 300, oversize: 'reject' } }).pipeline;
    const r = prefilter(makeDoc(PROSE), pipeline);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.rejection.reason).toBe('filter.too_long');
      expect(r.rejection.detail).toContain(`${PROSE.length} characters, limit 300`);
    }
  });

  it('truncates oversize documents on a whitespace boundary and reports the cut', () => {
    const pipeline = makeConfig({ pipeline: { maxDocumentChars: 400, oversize: 'truncate', minTokens: 10 } }).pipeline;
    const r = prefilter(makeDoc(PROSE), pipeline);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc.text.length).toBeLessThanOrEqual(400);
    expect(r.doc.text.length).toBeGreaterThan(360);
    expect(r.truncatedChars).toBe(PROSE.length - r.doc.text.length);
    expect(PROSE.startsWith(r.doc.text)).toBe(true);
    // The cut falls between words.
    expect(/\s/.test(PROSE[r.doc.text.length] ?? '')).toBe(true);
  });

  it('never splits a surrogate pair when truncating', () => {
    const text = `${'😀'.repeat(300)}`;
    const cut = cutText(text, 101);
    expect(cut.text.length).toBe(100);
    expect(cut.cut).toBe(500);
  });

  it('rejects binary-looking text (NUL bytes) as filter.binary', () => {
    const bin = `${PROSE}\u0000\u0000\u0000${'\u0001\u0002'.repeat(5)}`;
    const r = prefilter(makeDoc(bin), cfg);
    expect(r.ok ? 'ok' : r.rejection.reason).toBe('filter.binary');
    if (!r.ok) expect(r.rejection.detail).toMatch(/3 NUL/);
  });

  it('rejects text full of replacement characters as filter.binary', () => {
    const garbled = Array.from({ length: 80 }, (_, i) => `w\uFFFD\uFFFD${i}`).join(' ');
    expect(reason(garbled)).toBe('filter.binary');
  });

  it('rejects mostly-symbol text as filter.low_alpha', () => {
    const numbers = Array.from({ length: 120 }, (_, i) => `${(i * 7919) % 10007}.${i % 10}`).join(' ');
    const r = prefilter(makeDoc(numbers), cfg);
    expect(r.ok ? 'ok' : r.rejection.reason).toBe('filter.low_alpha');
    if (!r.ok) expect(r.rejection.detail).toMatch(/letters are 0\.0% of non-space characters, minimum 25\.0%/);
  });

  it('rejects a page whose most frequent line dominates as filter.repetitive', () => {
    const lines = [...Array.from({ length: 30 }, () => 'Buy cheap watches online now best price guaranteed'), ...PROSE.split('\n')];
    const r = prefilter(makeDoc(lines.join('\n')), cfg);
    expect(r.ok ? 'ok' : r.rejection.reason).toBe('filter.repetitive');
    if (!r.ok) expect(r.rejection.detail).toContain('30 of 37 non-empty lines');
  });

  it('respects the configured thresholds', () => {
    const lenient = makeConfig({ pipeline: { minTokens: 3 } }).pipeline;
    expect(reason('Paris is the capital of France.', lenient)).toBe('ok');
    const strict = makeConfig({ pipeline: { minAlphaRatio: 0.99 } }).pipeline;
    expect(reason(PROSE, strict)).toBe('filter.low_alpha');
  });
});
