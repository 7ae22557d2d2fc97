/**
 * What a benchmark mode is: something that runs the pipeline one way (embedded, Kafka) and
 * returns printable report lines plus a JSON result. `index.ts` runs the registered modes in
 * order and writes each result to `<out>/<mode>.json`.
 */
import type { BenchOptions } from './options.js';

export interface BenchContext {
  options: BenchOptions;
  /** Progress lines while the mode runs (stderr, so the report on stdout stays clean). */
  progress(line: string): void;
  /** A scratch folder for this mode's inputs and outputs. */
  workDir: string;
}

export interface ModeResult {
  /** The human-readable report, one line per entry. */
  report: string[];
  /** Everything measured, for `<out>/<mode>.json`. */
  json: Record<string, unknown>;
}

export interface BenchMode {
  name: string;
  description: string;
  /** False for modes that are registered only so `--only` can say they are not done yet. */
  implemented: boolean;
  run(ctx: BenchContext): Promise<ModeResult>;
}
