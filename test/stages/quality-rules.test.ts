/**
 * The crawl-quality rules: each rejects the page it is for with its own reason code, passes clean
 * prose in any script, source code and the example documents, and obeys its switch and thresholds.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { prefilter } from '../../src/stages/prefilter.js';
import { LONG_DOCS } from '../text/multilingual.js';
import { PROSE, makeConfig, makeDoc } from './helpers.js';

function verdict(text: string, config: ConfigInput = {}, language: string | null = null): string {
  const r = prefilter({ ...makeDoc(text), language }, makeConfig(config).pipeline);
  return r.ok ? 'ok' : r.rejection.reason;
}

const rulesOff = (name: string, extra: Record<string, unknown> = {}): ConfigInput => ({
  pipeline: { qualityRules: { [name]: false, ...extra } },
});

/** A link list: headlines without sentence ends, every one different. */
const HEADLINES = [
  'Council approves new cycle lanes for the harbour district',
  'Local bakery wins regional prize for its rye sourdough loaf',
  'Storm damage closes the coastal footpath until further notice',
  'School choir prepares winter concert at the old town hall',
  'Museum opens gallery of maps drawn by early river pilots',
  'Farmers report a late but healthy apple harvest this autumn',
  'Library extends its evening hours during the exam season',
  'Ferry timetable changes as the summer service comes to an end',
  'Volunteers plant three hundred oak saplings along the canal',
  'Hospital car park to be rebuilt with space for electric buses',
].join('\n');

const REPEATED_SHARE_LINE = 'Share this story with your friends and family';
const DUPLICATED = PROSE.split('\n')
  .slice(0, 5)
  .flatMap((line) => [line, REPEATED_SHARE_LINE])
  .join('\n');

const COOKIE_WALL = `We use cookies to give you the best experience on our site. By clicking accept you agree to our cookie policy and privacy policy.
Please enable JavaScript in your browser to view this page. Your browser does not support the features this site needs.
Accept all cookies or manage your cookie settings. Read our terms of use. All rights reserved.
The town museum is open from Tuesday to Sunday and entry is free for children under twelve years of age.`;

const HASHTAGS = `${PROSE}\n${'#travel #rhine #europe #river #holiday #wanderlust #photooftheday #nature #boat #summer #instagood #love '.repeat(2)}`;

const BULLETS = [
  '• Preheat the oven to 200 degrees and grease a large tin.',
  '• Sift the flour, baking powder and salt into a bowl.',
  '• Rub in the cold butter until the mixture looks like crumbs.',
  '• Stir in the sugar and the dried fruit with a knife.',
  '• Add the milk a little at a time to make a soft dough.',
  '• Pat the dough out to a thickness of about three centimetres.',
  '• Cut out rounds and place them on the tin, close together.',
  '• Brush the tops with beaten egg and bake for twelve minutes.',
].join('\n');

const TEASERS = [
  'The river pilots who guided barges through the gorge learned every rock by heart and...',
  'When the first steamships arrived on the upper river the old towing paths fell quiet and...',
  'A new survey of the riverbed near the falls shows that the channel has moved west and...',
  'The harbour master kept a daily log of ships, cargoes and weather for forty years and...',
  'Engineers who straightened the river in the nineteenth century did not expect the floods that...',
  'Salmon returned to the lower river after the water quality improved in the nineties and...',
].join('\n');

const SPAM = 'Buy cheap watches online today. '.repeat(10) + PROSE;

const PYTHON = `# Moving average of a series, used by the river-level dashboard.
import statistics


def moving_average(values, window):
    # Each output point is the mean of the window that ends at it.
    if window <= 0:
        raise ValueError("window must be positive")
    out = []
    for end in range(window, len(values) + 1):
        # The slice is short, so statistics.fmean is fast enough here.
        out.append(statistics.fmean(values[end - window:end]))
    return out


def rising(levels, window=3):
    # True when the latest average is above the one before it.
    averages = moving_average(levels, window)
    return len(averages) >= 2 and averages[-1] > averages[-2]
`;

const EXAMPLES = readFileSync(new URL('../../data/examples/documents.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { id: string; text: string });

describe('crawl-quality rules reject what they are for', () => {
  it('filter.line_punctuation: a list of headlines, none ending a sentence', () => {
    expect(verdict(HEADLINES)).toBe('filter.line_punctuation');
    expect(verdict(HEADLINES, rulesOff('linePunctuation'))).toBe('ok');
    expect(verdict(HEADLINES, { pipeline: { qualityRules: { linePunctuation: { minLines: 20 } } } })).toBe('ok');
  });

  it('filter.line_punctuation spares Thai (sentences end with a space) and one-paragraph documents', () => {
    const thaiLines = LONG_DOCS.th.replace(/ /g, '\n');
    expect(thaiLines.split('\n').length).toBeGreaterThanOrEqual(5);
    expect(verdict(thaiLines, {}, 'th')).toBe('ok');
    expect(verdict(thaiLines, {}, 'en')).toBe('filter.line_punctuation');
    expect(verdict(HEADLINES.replace(/\n/g, ' '))).toBe('ok');
  });

  it('filter.duplicate_lines: a share line after every paragraph', () => {
    expect(verdict(DUPLICATED)).toBe('filter.duplicate_lines');
    expect(verdict(DUPLICATED, rulesOff('duplicateLines'))).toBe('ok');
    expect(verdict(DUPLICATED, { pipeline: { qualityRules: { duplicateLines: { maxLineRatio: 0.5, maxCharRatio: 0.5 } } } })).toBe('ok');
  });

  it('filter.boilerplate: a cookie and JavaScript wall with one line of content', () => {
    expect(verdict(COOKIE_WALL)).toBe('filter.boilerplate');
    expect(verdict(COOKIE_WALL, rulesOff('boilerplate'))).toBe('ok');
    expect(verdict(COOKIE_WALL, { pipeline: { qualityRules: { boilerplate: { phrases: ['lorem ipsum'] } } } })).toBe('ok');
    // One privacy-policy sentence at the end of an article is not a wall.
    expect(verdict(`${PROSE}\nRead our privacy policy.`)).toBe('ok');
  });

  it('filter.symbols: hashtag spam; Python comments and Markdown headings are not hashtags', () => {
    expect(verdict(HASHTAGS)).toBe('filter.symbols');
    expect(verdict(HASHTAGS, rulesOff('symbols'))).toBe('ok');
    expect(verdict(HASHTAGS, { pipeline: { qualityRules: { symbols: { maxRatio: 0.5 } } } })).toBe('ok');
    expect(verdict(`# The Rhine\n\n${PROSE}\n\n## Sources\n\nThe figures come from the commission's yearbook and the port's annual report.`)).toBe('ok');
  });

  it('filter.bullet_lines: a page that is nothing but a bulleted list', () => {
    expect(verdict(BULLETS)).toBe('filter.bullet_lines');
    expect(verdict(BULLETS, rulesOff('bulletLines'))).toBe('ok');
    expect(verdict(`Drop scones for a rainy afternoon, from my grandmother's notebook.\n${BULLETS}`)).toBe('ok');
  });

  it('filter.ellipsis_lines: teasers cut off mid-sentence', () => {
    expect(verdict(TEASERS)).toBe('filter.ellipsis_lines');
    expect(verdict(TEASERS, rulesOff('ellipsisLines'))).toBe('ok');
  });

  it('filter.repeated_ngrams (opt-in): one phrase over and over', () => {
    expect(verdict(SPAM)).toBe('ok');
    expect(verdict(SPAM, { pipeline: { qualityRules: { repeatedNgrams: true } } })).toBe('filter.repeated_ngrams');
    expect(verdict(PROSE, { pipeline: { qualityRules: { repeatedNgrams: true } } })).toBe('ok');
  });
});

describe('crawl-quality rules pass clean text', () => {
  const allOn: ConfigInput = { pipeline: { qualityRules: { repeatedNgrams: true } } };

  it('passes prose, Python with comments and every long multilingual document, all rules on', () => {
    expect(verdict(PROSE, allOn)).toBe('ok');
    expect(verdict(PYTHON, allOn)).toBe('ok');
    for (const [lang, text] of Object.entries(LONG_DOCS)) expect(verdict(text, allOn, lang), lang).toBe('ok');
  });

  it('leaves the example documents as they were: six pass, the navigation page and the stub do not', () => {
    const outcome = Object.fromEntries(EXAMPLES.map((d) => [d.id, verdict(d.text)]));
    expect(outcome).toEqual({
      'ex-honeybee': 'ok',
      'ex-compound-interest': 'ok',
      'ex-python-gil': 'ok',
      'ex-scurvy': 'ok',
      'ex-pythagoras': 'ok',
      'ex-kyoto-travel': 'ok',
      'ex-nav-page': 'filter.repetitive',
      'ex-short': 'filter.too_short',
    });
  });

  it('names the measure and the threshold in the detail', () => {
    const r = prefilter(makeDoc(HEADLINES), makeConfig().pipeline);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.rejection.detail).toBe('0 of 10 lines (0.0%) end in terminal punctuation, minimum 12.0%');
  });
});
