/**
 * `webscale-rl run`: the whole pipeline in one process, no Kafka. Streams the input, writes QA
 * records (JSON lines, or parquet for an output named *.parquet) and rejection JSON lines as
 * they are decided, shows progress (a redrawn line on a TTY, a plain line every
 * `progressInterval` otherwise) and prints the summary.
 * Ctrl-C once stops intake and finishes the documents in flight; twice aborts the LLM calls.
 *
 * Before reading any input it probes the LLM of every stage that will call one (`probeStages`):
 * an LLM that cannot serve stops the run there, with one line and exit 2, and no output file is
 * created. After the run, too many `llm.failed` documents make the exit code 3 (outputs and the
 * summary are written all the same).
 */
import { writeFile } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../core/logger.js';
import { inputOptionsFrom, openInput } from '../input/index.js';
import { LLM_STAGES } from '../core/records.js';
import { probeStages } from '../llm/probe.js';
import { createLlmRouter } from '../llm/router.js';
import { ConcurrencyLimiter, limitRouter } from '../llm/limiter.js';
import { loadDecontaminator, loadFewshotLibrary } from '../stages/index.js';
import { runEmbedded } from '../runtime/embedded.js';
import { meterRouter } from '../runtime/metered.js';
import { RunStats } from '../runtime/stats.js';
import { openExportSink, defaultFormat } from '../export/index.js';
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

/** Exit code of a run in which more than `pipeline.maxLlmFailedShare` of the documents ended in `llm.failed`. */
export const EXIT_LLM_FAILED = 3;

/** The exit code of a finished run: interrupted wins, then too many LLM failures, else 0. */
export function runExitCode(stats: RunStats, maxLlmFailedShare: number, interrupted: boolean): number {
  if (interrupted) return 130;
  return stats.llmFailedShare() > maxLlmFailedShare ? EXIT_LLM_FAILED : 0;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1).replace(/\.0$/, '')}%`;
}

/** Where the run's results went, so nobody has to guess the default rejections file. */
export function outputsLine(output: string, rejections: string | null, summary: string | undefined): string {
  const parts = [`QA records -> ${output === '-' ? 'stdout' : output}`];
  parts.push(rejections === null ? 'rejections -> not written (name a file with --rejections)' : `rejections -> ${rejections}`);
  if (summary) parts.push(`summary -> ${summary}`);
  return `outputs: ${parts.join('; ')}`;
}

export async function runCommand(flags: RunFlags): Promise<number> {
  const config: Config = await loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
  const logger = createLogger(config.logLevel);
  const input = await openInput(flags.input, inputOptionsFrom(config.input));
  const fewshot = await loadFewshotLibrary(config.pipeline.fewshotDir);
  const decontaminator = await loadDecontaminator(config.decontamination);

  const router = await createLlmRouter(config, { logger });
  try {
    // Only the stages that will call the LLM: the filter's call is skipped with llmFilter off.
    const stages = LLM_STAGES.filter((stage) => stage !== 'filter' || config.pipeline.llmFilter);
    await probeStages(router, stages, { config, logger });
    const stats = new RunStats();
    const limiter = new ConcurrencyLimiter(config.concurrency);
    const llm = meterRouter(limitRouter(router, limiter), (stage, usage) => stats.recordCall(stage, usage));

    // `.parquet` writes the QA records as parquet (row groups of config.export), else JSON lines.
    const qaOut = await openExportSink(defaultFormat(flags.output), flags.output, config.export);
    const rejPath = flags.rejections ?? defaultRejectionsPath(flags.output);
    const rejOut = rejPath === null ? null : await JsonlWriter.open(rejPath);
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

    const progress = new ProgressDisplay(process.stderr, () => progressLine(stats, input.totalBytes, limiter.inFlight), () => stats.elapsedMs());
    if (flags.progress !== false) progress.start(config.progressInterval);
    let result;
    try {
      result = await runEmbedded({
        config,
        llm,
        fewshot,
        decontaminator,
        items: input.items,
        sinks: { qa: (r) => qaOut.write(r), rejection: (r) => (rejOut ? rejOut.write(r) : Promise.resolve()) },
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
      await rejOut?.close();
    }
    const util = utilisation(limiter.stats(), stats.elapsedMs());
    const maxShare = config.pipeline.maxLlmFailedShare;
    const code = runExitCode(stats, maxShare, result.interrupted);
    process.stderr.write(formatSummary(stats, { utilisation: util, interrupted: result.interrupted }) + '\n');
    process.stderr.write(outputsLine(flags.output, rejPath, flags.summary) + '\n');
    if (flags.summary) {
      const summary = { ...stats.toJSON(), llm_utilisation: util, llm_failed_share: stats.llmFailedShare(), interrupted: result.interrupted, exit_code: code };
      await writeFile(flags.summary, JSON.stringify(summary, null, 2) + '\n');
    }
    if (code === EXIT_LLM_FAILED) {
      const documents = stats.documentsRead - stats.inputRejected;
      process.stderr.write(
        `webscale-rl: ${percent(stats.llmFailedShare())} of documents (${stats.documentsLlmFailed} of ${documents}) ended in llm.failed, ` +
          `more than pipeline.maxLlmFailedShare (${percent(maxShare)}); exit code ${EXIT_LLM_FAILED}\n`,
      );
    }
    return code;
  } finally {
    await router.close();
    logger.flush();
  }
}
