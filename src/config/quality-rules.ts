/**
 * Config of the crawl-quality rules of the pre-filter (`pipeline.qualityRules`). Each rule takes
 * `true` / `false`, or an object that sets its thresholds (and `enabled`); what is left out keeps
 * its default. The thresholds are the published ones of Gopher (Rae et al., 2021), C4 (Raffel et
 * al., 2020) and FineWeb (Penedo et al., 2024) where those exist; the `minLines` floors are ours,
 * so a one-paragraph document is judged by the other rules, not by how its lines end.
 */
import { z } from 'zod';

/** A rule's settings: `enabled` plus its thresholds. */
function settings<S extends z.ZodRawShape>(shape: S) {
  return z.object({ enabled: z.boolean().default(true), ...shape }).strict();
}

/** A rule that is `true` / `false` or its settings; either way the defaults fill the rest. */
function rule<T extends z.ZodObject>(schema: T) {
  const defaults = schema.parse({}) as z.output<T>;
  return z
    .union([z.boolean(), schema])
    .optional()
    .transform((v): z.output<T> => (v === undefined ? defaults : typeof v === 'boolean' ? { ...defaults, enabled: v } : (v as z.output<T>)));
}

const ratio = z.number().min(0).max(1);
const lines = z.number().int().nonnegative();

/** Our own phrases (lower case) that mark cookie banners, script warnings and legal footers. */
export const DEFAULT_BOILERPLATE_PHRASES = [
  'accept all cookies',
  'accept cookies',
  'we use cookies',
  'this site uses cookies',
  'this website uses cookies',
  'cookie policy',
  'cookie settings',
  'enable javascript',
  'javascript is disabled',
  'javascript is required',
  'turn on javascript',
  'your browser does not support',
  'please update your browser',
  'terms of use',
  'terms of service',
  'terms and conditions',
  'privacy policy',
  'all rights reserved',
  'sign in to continue',
  'log in to continue',
  'you must be logged in',
  'subscribe to our newsletter',
  'sign up for our newsletter',
  'skip to main content',
  'skip to content',
  'page not found',
  'access denied',
  'lorem ipsum',
] as const;

export const qualityRulesSchema = z
  .object({
    /** FineWeb: under 12% of lines end in terminal punctuation -> `filter.line_punctuation`. */
    linePunctuation: rule(settings({
      minRatio: ratio.default(0.12),
      minLines: lines.default(5),
      /** Scripts that end sentences with a space, not a mark (Thai, Lao). */
      exemptLanguages: z.array(z.string().min(1)).default(['th', 'lo']),
    })),
    /**
     * Gopher: lines that repeat an earlier line are over 30% of lines, or hold over 20% of the
     * characters -> `filter.duplicate_lines`. A repeated line under `minWords` words ("}",
     * "Home") is layout, not content, and does not count as a duplicate.
     */
    duplicateLines: rule(settings({
      maxLineRatio: ratio.default(0.3),
      maxCharRatio: ratio.default(0.2),
      minLines: lines.default(5),
      minWords: lines.default(3),
    })),
    /**
     * C4-style: sentences (or lines) holding a boilerplate phrase carry over `maxCharRatio` of the
     * characters -> `filter.boilerplate`. `phrases` replaces our list (matched in lower case).
     */
    boilerplate: rule(settings({
      maxCharRatio: ratio.default(0.3),
      phrases: z.array(z.string().min(3)).default([...DEFAULT_BOILERPLATE_PHRASES]),
    })),
    /** Gopher: hashtags and ellipses per word over 0.1 -> `filter.symbols`. */
    symbols: rule(settings({ maxRatio: z.number().nonnegative().default(0.1) })),
    /** Gopher: over 90% of lines start with a bullet -> `filter.bullet_lines`. */
    bulletLines: rule(settings({ maxRatio: ratio.default(0.9), minLines: lines.default(5) })),
    /** Gopher: over 30% of lines end in an ellipsis -> `filter.ellipsis_lines`. */
    ellipsisLines: rule(settings({ maxRatio: ratio.default(0.3), minLines: lines.default(5) })),
    /**
     * Gopher: the most frequent word 2-, 3- or 4-gram covers over 20%, 18% or 16% of the
     * characters of all words -> `filter.repeated_ngrams`. Words by `Intl.Segmenter`. Off by
     * default: text made from a few template sentences (ours: the end-to-end fixtures and the
     * bench corpus) fails it, and turning it on must be a choice for web crawls.
     */
    repeatedNgrams: rule(settings({
      enabled: z.boolean().default(false),
      max2: ratio.default(0.2),
      max3: ratio.default(0.18),
      max4: ratio.default(0.16),
    })),
  })
  .strict();

export type QualityRulesConfig = z.output<typeof qualityRulesSchema>;
