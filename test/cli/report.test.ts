/// <reference lib="dom" />
/**
 * `webscale-rl report` on a real run folder: `run` (the built CLI, against the stand-in LLM)
 * writes QA records, rejections and the summary; `report` prints the error analysis and writes
 * the HTML page, which a real headless Chromium (the system's) opens: its tables and charts must
 * be there, visible in the viewport, drawn (the screenshot is not blank), and a hostile question,
 * answer and persona from the data must show as text and run nothing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { launchChromium, pngInk } from '../support/chromium.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;
let dir: string;
let runDir: string;
let browser: Browser | undefined;

function prose(topic: string, words = 80): string {
  const base = `The ${topic} was studied in detail by ${topic} researchers who measured the ${topic} growth over many ${topic} seasons and recorded careful ${topic} notes about what they saw of the ${topic} in the field and in the ${topic} laboratory.`;
  let out = '';
  while (out.split(/\s+/).length < words) out += base + ' ';
  return out.trim();
}

const HOSTILE_PERSONA = '<script>window.__xss=1;alert(1)</script> tester';
const HOSTILE_ANSWER = '<img src=x onerror=window.__xss=2>';

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 5 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-report-'));
  runDir = join(dir, 'run1');
  await mkdir(runDir);
  const docs = [
    { id: 'kept', text: prose('glacier') + ' [[domain:Natural Science]] [[personas:hydrologist, ski guide]]' },
    { id: 'kept-2', text: prose('compiler') + ' [[domain:Coding]] [[personas:programmer]]' },
    { id: 'wrong', text: prose('orchard') + ` [[domain:Natural Science]] [[personas:${HOSTILE_PERSONA}]] [[answer:${HOSTILE_ANSWER}]] [[incorrect]]` },
    { id: 'leaky', text: prose('harbour') + ' [[domain:Commerce & Economics]] [[personas:trader]] [[leak]]' },
    { id: 'astro', text: prose('horoscope') + ' [[domain:Astrology]] [[personas:stargazer, mystic]]' },
    { id: 'unq', text: prose('banner') + ' [[unqualified]]' },
    { id: 'short', text: 'too short to use' },
  ];
  const input = join(dir, 'docs.jsonl');
  await writeFile(input, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const res = await runCli(
    ['run', '--input', input, '--output', join(runDir, 'qa.jsonl'), '--summary', join(runDir, 'summary.json'), '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', '4'],
    { timeoutMs: 120_000 },
  );
  expect(res.code, res.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await llm.close();
});

describe('rejections carry the pair (Rejection v3)', () => {
  it('check and identify rejections in the run folder hold question, answer, domain and personas', async () => {
    const rejections = await readJsonl(join(runDir, 'qa.rejections.jsonl'));
    const incorrect = rejections.find((r) => r['reason'] === 'check.incorrect');
    expect(incorrect).toMatchObject({ doc_id: 'wrong', stage: 'check', domain: 'Natural Science', answer: HOSTILE_ANSWER, persona: HOSTILE_PERSONA });
    expect(String(incorrect?.['question'])).toContain(HOSTILE_PERSONA);
    const leak = rejections.find((r) => r['doc_id'] === 'leaky');
    expect(leak).toMatchObject({ stage: 'check', domain: 'Commerce & Economics', persona: 'trader' });
    expect(typeof leak?.['question']).toBe('string');
    expect(typeof leak?.['answer']).toBe('string');
    const astro = rejections.find((r) => r['reason'] === 'identify.unknown_domain');
    expect(astro).toMatchObject({ doc_id: 'astro', personas: ['stargazer', 'mystic'] });
    // Stages before the pair exists carry none of it.
    const unq = rejections.find((r) => r['reason'] === 'filter.unqualified');
    expect(unq?.['question']).toBeUndefined();
  });
});

describe('webscale-rl report <run folder>', () => {
  it('prints the error analysis and writes report.html into the folder', async () => {
    const res = await runCli(['report', runDir]);
    expect(res.code, res.stderr).toBe(0);
    const out = res.stdout;
    expect(out).toContain('QA pairs kept: 3');
    // 3 kept of 5 checked (glacier x2, compiler; orchard and harbour turned away).
    expect(out).toMatch(/verification rate \(check passed \/ checked\): 60\.0% \(3 of 5\)/);
    for (const reason of ['check.incorrect', 'check.leakage', 'identify.unknown_domain', 'filter.unqualified', 'filter.too_short']) expect(out).toContain(reason);
    expect(out).toContain(`A: ${HOSTILE_ANSWER}`);
    expect(out).toContain('personas: stargazer; mystic');
    expect(out).toMatch(/Natural Science\s+2 \/ 1/);
    expect(out).toMatch(/tokens per kept pair: [\d,]+/);
    expect(out).toContain('cost unknown: no prices given');
    expect(out).toMatch(/slowest stages \(time per record\):\n\s+\w+\s+mean/);
    expect(res.stderr).toContain(`report page -> ${join(runDir, 'report.html')}`);
    expect(existsSync(join(runDir, 'report.html'))).toBe(true);
  });

  it('prices the tokens with --prices, and says which model has no price', async () => {
    const prices = join(dir, 'prices.json');
    await writeFile(prices, JSON.stringify({ 'stand-in': { input: 1, output: 2 } }));
    const summary = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as { tokens: { total: { prompt: number; completion: number } }; models: Record<string, string> };
    expect(summary.models).toEqual({ filter: 'stand-in', identify: 'stand-in', generate: 'stand-in', check: 'stand-in' });
    const usd = (summary.tokens.total.prompt * 1 + summary.tokens.total.completion * 2) / 1e6;
    const html = join(dir, 'priced.html');
    const res = await runCli(['report', runDir, '--prices', prices, '--html', html]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`per kept pair`);
    expect(res.stdout).toContain(`$${(usd / 3).toPrecision(2)} per kept pair`);
    expect(await readFile(html, 'utf8')).toContain('cost per kept pair');

    await writeFile(prices, JSON.stringify({ 'other-model': { input: 1, output: 2 } }));
    const unpriced = await runCli(['report', runDir, '--prices', prices, '--html', html]);
    expect(unpriced.stdout).toContain('cost unknown: no price for stand-in');

    await writeFile(prices, JSON.stringify({ 'stand-in': { input: 'cheap' } }));
    const bad = await runCli(['report', runDir, '--prices', prices, '--html', html]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^webscale-rl: the prices file .* is not \{"<model>"/);
  });

  it('a folder that is not a run folder, and a path that does not exist: exit 2 with what a run folder is', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const res = await runCli(['report', empty]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('holds no *.rejections.jsonl file');
    expect(res.stderr).toContain('--summary');
    const missing = await runCli(['report', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such folder');
  });

  it('renders in headless Chromium: tables and charts visible, charts drawn, hostile text shown and inert', async () => {
    const page = join(dir, 'page.html');
    const made = await runCli(['report', runDir, '--html', page]);
    expect(made.code, made.stderr).toBe(0);
    const html = await readFile(page, 'utf8');
    // Self-contained: nothing fetched, no script.
    expect(html).not.toMatch(/<script|src=["']?https?:|href=["']?https?:|@import/i);
    expect(html).toContain('&lt;script&gt;window.__xss=1;alert(1)&lt;/script&gt;');
    expect((await stat(page)).size).toBeLessThan(200_000);

    browser = await launchChromium();
    const tab = await browser.newPage();
    await tab.setViewport({ width: 1280, height: 900 });
    const dialogs: string[] = [];
    tab.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await tab.goto(pathToFileURL(page).href, { waitUntil: 'load' });

    for (const selector of ['#figures', '#stages', '#reasons', '#domains', '#personas', '#stage-times', '#chart-reasons', '#chart-domains', '#chart-stage-time']) {
      const handle = await tab.$(selector);
      expect(handle, `${selector} is on the page`).not.toBeNull();
      await handle?.evaluate((el) => el.scrollIntoView({ block: 'start' }));
      const visible = await handle?.evaluate((el) => {
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return {
          shown: style.display !== 'none' && style.visibility === 'visible' && Number(style.opacity) > 0,
          width: box.width,
          height: box.height,
          top: box.top,
          inViewport: box.top < innerHeight && box.bottom > 0 && box.left < innerWidth && box.right > 0,
        };
      });
      expect(visible?.shown, `${selector} displayed`).toBe(true);
      expect(visible?.width, `${selector} width`).toBeGreaterThan(100);
      expect(visible?.height, `${selector} height`).toBeGreaterThan(20);
      expect(visible?.inViewport, `${selector} in the viewport`).toBe(true);
    }

    // The reasons chart has a bar per reason, and its pixels are not blank.
    const bars = await tab.$$eval('#chart-reasons rect', (rects) => rects.map((r) => Number(r.getAttribute('width'))));
    expect(bars.length).toBeGreaterThanOrEqual(5);
    for (const w of bars) expect(w).toBeGreaterThan(0);
    const chart = await tab.$('#chart-reasons');
    await chart?.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    // The bars are painted: filter (amber) and check (red) bars cover a real part of the chart.
    const chartShot = pngInk(await chart!.screenshot({ type: 'png' }), ['#d08c2b', '#c0392b', '#7a5fb0']);
    expect(chartShot.width).toBeGreaterThan(300);
    expect(chartShot.inkShare, 'share of non-background pixels in the chart').toBeGreaterThan(0.05);
    for (const [colour, share] of Object.entries(chartShot.shareOf)) expect(share, `pixels of bar colour ${colour}`).toBeGreaterThan(0.02);
    const domainChart = await tab.$('#chart-domains');
    await domainChart?.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    const domainShot = pngInk(await domainChart!.screenshot({ type: 'png' }), ['#2e8b57', '#c0392b']);
    expect(domainShot.shareOf['#2e8b57'], 'kept (green) bars').toBeGreaterThan(0.02);
    expect(domainShot.shareOf['#c0392b'], 'rejected (red) bars').toBeGreaterThan(0.02);

    await tab.evaluate(() => scrollTo(0, 0));
    const full = pngInk(await tab.screenshot({ type: 'png' }));
    expect(full.inkShare, 'the first screen of the page is not blank').toBeGreaterThan(0.02);

    // The hostile persona and answer are text on the page; nothing ran and nothing was built from them.
    const reasonsText = await tab.$eval('#reasons', (el) => el.textContent ?? '');
    expect(reasonsText).toContain(HOSTILE_PERSONA);
    expect(reasonsText).toContain(HOSTILE_ANSWER);
    expect(await tab.evaluate(() => document.querySelectorAll('script, img, iframe, object, embed').length)).toBe(0);
    expect(await tab.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
    await tab.close();
  }, 120_000);
});
