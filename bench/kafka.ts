/**
 * Placeholder for the Kafka-mode benchmark: the same figures as `embedded.ts` (LLM utilisation,
 * docs/s, QA/s, CPU per document, peak RSS flat in input size) with the pipeline run as four
 * `webscale-rl stage <filter|identify|generate|check>` worker processes on a broker
 * (`npm run kafka:start`), fed by `webscale-rl ingest` and read back with `webscale-rl export`.
 *
 * TODO(kafka bench), for whoever builds it:
 * - Reuse `corpus.ts` (writeCorpus, expectedCalls), `llm-process.ts` (the stand-in in its own
 *   process, with its in-flight timeline) and `timeline.ts` (ramp / steady / drain split).
 * - Run each worker through `cli-child.ts` (`BENCH_PROBE_FILE` per worker) so every worker's
 *   CPU and peak RSS are reported; stop them with SIGTERM once the sink holds the expected
 *   number of QA records (or the rejections topic accounts for every document).
 * - Utilisation is per worker process: each has its own `--concurrency` cap, so the stand-in's
 *   in-flight should approach 4 x C in steady state; report both the total and per stage.
 * - Fresh topic prefix per run (see test/support/kafka.ts) so runs do not see each other's data.
 * - Set `implemented: true` once `run` measures something.
 */
import type { BenchMode, ModeResult } from './modes.js';

export const kafkaMode: BenchMode = {
  name: 'kafka',
  description: 'four webscale-rl stage workers on Kafka (not implemented yet)',
  implemented: false,
  run(): Promise<ModeResult> {
    return Promise.reject(new Error('the Kafka benchmark is not implemented yet (see bench/kafka.ts)'));
  },
};
