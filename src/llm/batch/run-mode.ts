/**
 * `run --batch` in one place, so the run command only asks for it: opens the state file beside
 * the output (or `--batch-state`), builds the batching router over the online one, checks that
 * each endpoint has the Batch API, and at the end reports and tidies up. The state file is removed
 * after a run that finished (every batch collected and used); an interrupted or failed run keeps
 * it, and the next run of the same output collects what it names.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { WebscaleError } from '../../core/errors.js';
import type { LlmStage } from '../../core/records.js';
import { acquireAgent, type AgentLease } from '../http.js';
import type { LlmRouter } from '../types.js';
import { checkBatchable, createBatchRouter, type BatchRouter } from './router.js';
import { BatchStateLog } from './state.js';
import { BatchStats } from './stats.js';

export interface BatchMode {
  router: BatchRouter;
  stats: BatchStats;
  state: BatchStateLog;
  /** Documents the embedded runner keeps in flight (`llm.batch.documents`). */
  documentsInFlight: number;
  /** Close the router's batching clients and the state file (removed when `finished`). */
  close(finished: boolean): Promise<void>;
}

/** Where the state of a batch run is kept: `--batch-state`, `llm.batch.stateFile`, else beside the output. */
export function batchStatePath(config: Config, output: string, flag: string | undefined): string {
  const path = flag ?? config.llm.batch.stateFile;
  if (path !== undefined) return path;
  if (output === '-') {
    throw new WebscaleError('CONFIG_INVALID', '--batch with --output - needs a file for the batch ids: name one with --batch-state (config llm.batch.stateFile)');
  }
  return `${output}.batches.jsonl`;
}

/** Refuse what batch mode cannot do before anything is opened. */
export function checkBatchMode(config: Config, stages: readonly LlmStage[], output: string, flag: string | undefined): string {
  checkBatchable(config, stages);
  return batchStatePath(config, output, flag);
}

export async function openBatchMode(
  config: Config,
  opts: { stages: readonly LlmStage[]; statePath: string; online: LlmRouter; logger: Logger; signal?: AbortSignal },
): Promise<BatchMode> {
  const state = await BatchStateLog.open(opts.statePath);
  const stats = new BatchStats();
  const lease: AgentLease = acquireAgent(config.concurrency);
  const router = createBatchRouter(config, opts.stages, { online: opts.online, dispatcher: lease.dispatcher, state, stats, logger: opts.logger });
  try {
    for (const stage of opts.stages) router.forStage(stage);
    for (const api of router.apis()) await api.probe(opts.signal);
  } catch (err) {
    // A state file this run created holds nothing yet: do not leave it behind.
    await state.close({ remove: state.earlierBatches().length === 0 });
    await lease.release();
    throw err;
  }
  const earlier = state.earlierBatches();
  if (earlier.length > 0) {
    opts.logger.info({ state: opts.statePath, batches: earlier.length }, 'batch state of an earlier run found: its batches are collected, not submitted again');
  }
  return {
    router,
    stats,
    state,
    documentsInFlight: config.llm.batch.documents,
    async close(finished: boolean) {
      await router.close();
      await state.close({ remove: finished });
      await lease.release();
    },
  };
}
