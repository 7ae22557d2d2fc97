/**
 * `stage <generate|check> --batch`: batch mode for a Kafka stage worker. The worker keeps its
 * online router (capped at `concurrency`) for the lines a batch does not answer and calls the
 * stage through a batching router; the batch ids go to the compacted topic of `kafka-state.ts`.
 * A record waits for its batch for up to the completion window, so the worker holds up to
 * `llm.batch.documents` records in flight and its record age limit is raised to
 * `BATCH_RECORD_AGE_MS` unless `kafka.maxRecordAge` is longer.
 */
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { WebscaleError } from '../../core/errors.js';
import type { WorkerStage } from '../../core/records.js';
import { topicName } from '../../kafka/index.js';
import { acquireAgent } from '../http.js';
import type { LlmRouter } from '../types.js';
import { KafkaBatchState } from './kafka-state.js';
import { checkBatchable, createBatchRouter, type BatchRouter } from './router.js';
import { BatchStats } from './stats.js';

/** The stages with a Kafka batch mode. */
export const KAFKA_BATCH_STAGES: readonly WorkerStage[] = ['generate', 'check'];

/** Past OpenAI's 24 h completion window, with room for the collection. */
export const BATCH_RECORD_AGE_MS = 26 * 3600 * 1000;

/** Suffix of the compacted topic of batch ids. */
export const BATCH_STATE_SUFFIX = 'llm.batches';

export interface WorkerBatchMode {
  /** For `StageWorkerOptions.batch`. */
  worker: { wrap: (online: LlmRouter) => LlmRouter; inFlight: number; minRecordAgeMs: number };
  stats: BatchStats;
  /** The Batch API answers (after the worker built its router). */
  probe(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export async function openWorkerBatchMode(config: Config, stage: WorkerStage, kafka: Kafka, logger: Logger): Promise<WorkerBatchMode> {
  if (!KAFKA_BATCH_STAGES.includes(stage)) {
    throw new WebscaleError('USAGE', `--batch is for the generate and check stages (the stages with most calls); ${stage} runs online`);
  }
  const llmStage = stage as 'generate' | 'check';
  checkBatchable(config, [llmStage]);
  const prefix = config.kafka.topicPrefix;
  const state = await KafkaBatchState.open(kafka, topicName(prefix, BATCH_STATE_SUFFIX), prefix);
  const known = state.earlierBatches().length;
  if (known > 0) logger.info({ batches: known, topic: state.path }, 'batch state read: requests in these batches are collected, not submitted again');
  const stats = new BatchStats();
  const lease = acquireAgent(config.concurrency);
  let router: BatchRouter | undefined;
  return {
    worker: {
      wrap: (online) => {
        router = createBatchRouter(config, [llmStage], { online, dispatcher: lease.dispatcher, state, stats, logger });
        router.forStage(llmStage);
        return router;
      },
      inFlight: config.llm.batch.documents,
      minRecordAgeMs: BATCH_RECORD_AGE_MS,
    },
    stats,
    async probe(signal) {
      for (const api of router?.apis() ?? []) await api.probe(signal);
    },
    async close() {
      await router?.close();
      await state.close();
      await lease.release();
      logger.info({ batch: stats.toJSON() }, stats.summaryLine());
    },
  };
}
