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
import { LLM_STAGES, type QaRecord, type Rejection } from '../core/records.js';
import { probeStages } from '../llm/probe.js';
import { createLlmRouter } from '../llm/router.js';
import { ConcurrencyLimiter, limitRouter } from '../llm/limiter.js';
import { RateLimitRegistry } from '../llm/rate-limit/registry.js';
import { budgetFromConfig } from '../llm/budget.js';
import { budgetLine, costSummary } from './cost-summary.js';
import { checkBatchMode, openBatchMode, type BatchMode } from '../llm/batch/index.js';
import { loadDecontaminator, loadFewshotLibrary } from '../stages/index.js';
import { runEmbedded } from '../runtime/embedded.js';
import { observeRouter } from '../runtime/metered.js';
import type { LmdbResponseStore } from '../llm/response-log/lmdb-store.js';
import { logRouter } from '../llm/response-log/logged-router.js';
import { WebscaleError } from '../core/errors.js';
import { fingerprintInput, journalPathFor, outputSettings, RunJournal, JOURNAL_VERSION } from './run-journal.js';
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
  /** Send the LLM calls through the OpenAI Batch API (`llm.batch.enabled`). */
  batch?: boolean;
  /** The batch state file (default `<output>.batches.jsonl`). */
  batchState?: string;
  /** Continue the interrupted run whose outputs these are (`run-journal.ts`). */
  resume?: boolean;
  /** The response log's file; false (`--no-response-log`) turns it off. */
  responseLog?: string | boolean;
}

/** Where the response log lives for this run, or null when it is off. */
export function responseLogPath(flags: RunFlags, config: Config): string | null {
  if (flags.responseLog === false || !config.llm.responseLog.enabled) return null;
  if (typeof flags.responseLog === 'string') return flags.responseLog;
  if (config.llm.responseLog.path !== undefined) return config.llm.responseLog.path;
  // `out/qa.jsonl` -> `out/qa.responses.mdb`; none for stdout.
  return flags.output === '-' ? null : flags.output.replace(/(\.jsonl|\.ndjson|\.json|\.parquet)?$/i, '.responses.mdb');
}

/** Exit code of a run that stopped taking documents because its budget was reached. */
export const EXIT_BUDGET = 4;

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
export function outputsLine(output: string, rejections: string | null, summary: string | undefined, responseLog?: string | null): string {
  const parts = [`QA records -> ${output === '-' ? 'stdout' : output}`];
  parts.push(rejections === null ? 'rejections -> not written (name a file with --rejections)' : `rejections -> ${rejections}`);
  if (summary) parts.push(`summary -> ${summary}`);
  if (responseLog) parts.push(`LLM response log -> ${responseLog}`);
  return `outputs: ${parts.join('; ')}`;
}

export async function runCommand(flags: RunFlags): Promise<number> {
  const config: Config = await loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
  const logger = createLogger(config.logLevel);
  const batchOn = flags.batch === true || config.llm.batch.enabled;
  // Only the stages that will call the LLM: the filter's call is skipped with llmFilter off.
  const stages = LLM_STAGES.filter((stage) => stage !== 'filter' || config.pipeline.llmFilter);
  const batchStatePath = batchOn ? checkBatchMode(config, stages, flags.output, flags.batchState) : undefined;
  // Only JSON lines written to a file can be appended to and cut back; the journal needs both.
  const journaled = flags.output !== '-' && defaultFormat(flags.output) === 'jsonl' && flags.rejections !== '-';
  if (flags.resume === true) {
    if (!journaled) throw new WebscaleError('USAGE', '--resume needs --output (and --rejections) to be JSON-lines files (not stdout, not parquet): only those can be continued');
    if (flags.input === '-') throw new WebscaleError('USAGE', '--resume cannot continue from stdin (nothing shows it is the same input); save the input to a file');
  }
  const input = await openInput(flags.input, inputOptionsFrom(config.input));
  const fewshot = await loadFewshotLibrary(config.pipeline.fewshotDir);
  const decontaminator = await loadDecontaminator(config.decontamination);

  const rateLimits = new RateLimitRegistry(config);
  const router = await createLlmRouter(config, { logger, rateLimits });
  let batch: BatchMode | undefined;
  let finished = false;
  try {
    const budget = budgetFromConfig(
      config,
      stages.map((stage) => ({ model: router.forStage(stage).model, free: router.forStage(stage).backend === 'local' })),
    );
    await probeStages(router, stages, { config, logger });
    const stats = new RunStats();
    const limiter = new ConcurrencyLimiter(config.concurrency);
    const online = limitRouter(router, limiter);
    // Batch mode: the calls wait for OpenAI batches; lines a batch does not answer go `online`.
    batch = batchStatePath === undefined ? undefined : await openBatchMode(config, { stages, statePath: batchStatePath, online, logger });
    // The budget stops intake like a first Ctrl-C: documents in flight finish, none is taken.
    const budgetStop = new AbortController();
    budget.onExhausted((status) => {
      process.stderr.write(`\n${budgetLine(status)}: stopping intake; finishing documents in flight\n`);
      budgetStop.abort();
    });

    const rejPath = flags.rejections ?? defaultRejectionsPath(flags.output);
    let journal: RunJournal | null = null;
    let qaOut: { write(r: unknown): Promise<void>; close(): Promise<void> } | null = null;
    let rejOut: JsonlWriter | null = null;
    if (journaled) {
      const paths = { output: flags.output, rejections: rejPath, journal: journalPathFor(flags.output) };
      const header = { v: JOURNAL_VERSION, input: await fingerprintInput(flags.input), settings: outputSettings(config), started_at: Date.now() };
      if (flags.resume === true) {
        journal = await RunJournal.resume(paths, header);
        if (journal === null) process.stderr.write(`--resume: no earlier run of ${flags.output} found; starting a new run\n`);
        else process.stderr.write(`--resume: ${journal.done.size} documents already finished; continuing\n`);
      }
      journal ??= await RunJournal.start(paths, header);
    } else {
      // `.parquet` writes the QA records as parquet (row groups of config.export), else JSON lines.
      qaOut = await openExportSink(defaultFormat(flags.output), flags.output, config.export);
      rejOut = rejPath === null ? null : await JsonlWriter.open(rejPath);
    }
    // Opened once the outputs are settled: a refused --resume leaves no new file behind.
    const logPath = responseLogPath(flags, config);
    // Loaded only when used: the native module costs start-up time every other command would pay.
    const store: LmdbResponseStore | null =
      logPath === null ? null : (await import('../llm/response-log/lmdb-store.js')).LmdbResponseStore.open({ path: logPath, sync: config.llm.responseLog.sync });
    // Meter outside the log (an answer from the log is counted apart), limiter inside it (an
    // answer from the log takes no LLM slot).
    // Batch mode sits inside the log: an answer the log has never waits for a batch.
    const limited = batch?.router ?? online;
    const llm = observeRouter(store === null ? limited : logRouter(limited, store, config, logger), {
      onSuccess: (stage, completion, _ms, client) => {
        if (completion.fromLog === true) {
          stats.recordFromLog(stage, completion.usage);
          return;
        }
        stats.recordCall(stage, completion.usage, client.model);
        // Batch answers are charged at the full price too: the budget errs on the safe side.
        budget.record(client.model, completion.usage);
      },
    });
    const open = journal;
    const sinks = open
      ? {
          qa: (r: QaRecord, seq: number) => open.writeQa(seq, r),
          rejection: (r: Rejection, seq: number) => open.writeRejection(seq, r),
          documentDone: (seq: number) => open.finish(seq),
        }
      : { qa: (r: QaRecord) => qaOut?.write(r), rejection: (r: Rejection) => (rejOut ? rejOut.write(r) : Promise.resolve()) };
    const stopIntake = new AbortController();
    const abort = new AbortController();
    const onSignal = (): void => {
      if (!stopIntake.signal.aborted) {
        process.stderr.write(
          batch === undefined
            ? '\nstopping intake; finishing documents in flight (Ctrl-C again to abort)\n'
            : `\nstopping intake; finishing documents in flight, which wait for their batches (Ctrl-C again to stop now: the next run collects the batches in ${batch.state.path})\n`,
        );
        stopIntake.abort();
      } else abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const progress = new ProgressDisplay(
      process.stderr,
      () => {
        const line = progressLine(stats, input.totalBytes, limiter.inFlight);
        return batch === undefined ? line : `${line} | ${batch.router.waiting()} waiting for a batch`;
      },
      () => stats.elapsedMs(),
    );
    if (flags.progress !== false) progress.start(config.progressInterval);
    let result;
    try {
      result = await runEmbedded({
        config,
        llm,
        fewshot,
        decontaminator,
        items: input.items,
        sinks,
        ...(journal === null ? {} : { isDone: (seq: number) => open?.done.has(seq) === true }),
        logger,
        stopIntake: AbortSignal.any([stopIntake.signal, budgetStop.signal]),
        abort: abort.signal,
        stats,
        ...(batch === undefined ? {} : { documentsInFlight: batch.documentsInFlight }),
      });
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await qaOut?.close();
      await rejOut?.close();
      await journal?.close();
      await store?.close();
    }
    const util = utilisation(limiter.stats(), stats.elapsedMs());
    const maxShare = config.pipeline.maxLlmFailedShare;
    const byBudget = result.interrupted && budgetStop.signal.aborted && !stopIntake.signal.aborted;
    const code = byBudget ? EXIT_BUDGET : runExitCode(stats, maxShare, result.interrupted);
    const cost = costSummary(budget.status(), stats.qaKept, byBudget, Object.keys(config.llm.prices).length > 0);
    process.stderr.write(formatSummary(stats, { utilisation: util, interrupted: result.interrupted && !byBudget }) + '\n');
    process.stderr.write(cost.line + '\n');
    if (batch !== undefined) process.stderr.write(batch.stats.summaryLine() + '\n');
    process.stderr.write(outputsLine(flags.output, rejPath, flags.summary, logPath) + '\n');
    finished = !result.interrupted;
    if (batch !== undefined && !finished) process.stderr.write(`batch ids kept in ${batch.state.path}: run the same command again to collect them\n`);
    if (flags.summary) {
      const summary = {
        ...stats.toJSON(),
        llm_utilisation: util,
        llm_failed_share: stats.llmFailedShare(),
        interrupted: result.interrupted,
        cost: cost.json,
        exit_code: code,
        ...(batch === undefined ? {} : { batch: batch.stats.toJSON() }),
      };
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
    rateLimits.close();
    await batch?.close(finished);
    await router.close();
    logger.flush();
  }
}
