/** Durations in config: milliseconds, or a number with a unit (`500ms`, `30s`, `5m`, `1h`). */
import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration: a number of milliseconds, or a string such as "250ms", "30s", "5m". */
export const duration = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'expected a duration such as "500ms", "30s" or "5m"')
    .transform((s) => {
      const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
      // The regex above guarantees a match; the fallback only satisfies the type checker.
      return match ? Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1)) : 0;
    }),
], { error: 'expected milliseconds or a duration such as "500ms", "30s" or "5m"' });
