/**
 * `webscale-rl run`: the whole pipeline in one process, no Kafka. Streams the input, writes QA
 * and rejection JSON lines as they are decided, shows progress on a TTY and prints the summary.
 * Ctrl-C once stops intake and finishes the documents in flight; twice aborts the LLM calls.
 */
import { writeFile } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../core/logger.js';
import { openInput } from '../input/reader.js';
import { createLlmRouter, checkReachable } from '../llm/router.js';
import { ConcurrencyLimiter, limitRouter } from '../llm/limiter.js';
import { loadDecontaminator, loadFewshotLibrary } from '../stages/index.js';
import { runEmbedded } from '../runtime/embedded.js';
import { meterRouter } from '../runtime/metered.js';
import { RunStats } from '../runtime/stats.js';
import { JsonlWriter, defaultRejectionsPath } from './jsonl-writer.js';
import { overridesFrom, type CommonFlags } from './options.js';
import { ProgressDisplay, formatSummary, progressLine, utilisation } from './summary.js';

export interface RunFlags extends CommonFlags {
  input: string;
  output: string;
  rejections?: string;
  summary?: string;
  progress?: boolean;
}

export async function runCommand(flags: RunFlags): Promise<number> {
  const config: Config = await loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
  const logger = createLogger(config.logLevel);
  const input = await openInput(flags.input);
  const fewshot = await loadFewshotLibrary(config.pipeline.fewshotDir);
  const decontaminator = await loadDecontaminator(config.decontamination);

  const router = await createLlmRouter(config, { logger });
  try {
    await checkReachable(router);
    const stats = new RunStats();
    const limiter = new ConcurrencyLimiter(config.concurrency);
    const llm = meterRouter(limitRouter(router, limiter), (stage, usage) => stats.recordCall(stage, usage));

    const qaOut = await JsonlWriter.open(flags.output);
    const rejOut = await JsonlWriter.open(flags.rejections ?? defaultRejectionsPath(flags.output));
    const stopIntake = new AbortController();
    const abort = new AbortController();
    const onSignal = (): void => {
      if (!stopIntake.signal.aborted) {
        process.stderr.write('\nstopping intake; finishing documents in flight (Ctrl-C again to abort)\n');
        stopIntake.abort();
      } else abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const progress = new ProgressDisplay(process.stderr, () => progressLine(stats, input.totalBytes, limiter.inFlight));
    if (flags.progress !== false) progress.start();
    let result;
    try {
      result = await runEmbedded({
        config,
        llm,
        fewshot,
        decontaminator,
        items: input.items,
        sinks: { qa: (r) => qaOut.write(r), rejection: (r) => rejOut.write(r) },
        logger,
        stopIntake: stopIntake.signal,
        abort: abort.signal,
        stats,
      });
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await qaOut.close();
      await rejOut.close();
    }
    const util = utilisation(limiter.stats(), stats.elapsedMs());
    process.stderr.write(formatSummary(stats, { utilisation: util, interrupted: result.interrupted }) + '\n');
    if (flags.summary) {
      await writeFile(flags.summary, JSON.stringify({ ...stats.toJSON(), llm_utilisation: util, interrupted: result.interrupted }, null, 2) + '\n');
    }
    return result.interrupted ? 130 : 0;
  } finally {
    await router.close();
    logger.flush();
  }
}
