/**
 * How main content is found (config `input.extractor`): `auto` takes the page's own article markup
 * when it marks one clear main text, else the one element that holds nearly all its paragraphs,
 * and runs Readability otherwise (html.ts); `readability` always runs
 * Readability; `body` takes the body without its boilerplate elements (faster, noisier). Its own
 * module so the config schema need not load the HTML libraries.
 */
export const EXTRACTORS = ['auto', 'readability', 'body'] as const;
export type Extractor = (typeof EXTRACTORS)[number];

/**
 * What produced a page's text: its article markup, the one element holding its paragraphs,
 * Readability, or the body extractor (counted per path in the run summary).
 */
export const EXTRACTION_PATHS = ['markup', 'paragraphs', 'readability', 'body'] as const;
export type ExtractionPath = (typeof EXTRACTION_PATHS)[number];
