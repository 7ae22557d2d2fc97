/**
 * How main content is found (config `input.extractor`): `auto` takes the page's own article markup
 * when it marks one clear main text, else the one element that holds nearly all its paragraphs,
 * and runs Readability otherwise (html.ts); `readability` always runs
 * Readability; `body` takes the body without its boilerplate elements (faster, noisier). Its own
 * module so the config schema need not load the HTML libraries.
 */
export const EXTRACTORS = ['auto', 'readability', 'body'] as const;
export type Extractor = (typeof EXTRACTORS)[number];
