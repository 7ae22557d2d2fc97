/** Batch mode: LLM calls through the OpenAI Batch API (`run --batch`). */
export { BatchApi, BATCH_STATUSES, TERMINAL_STATUSES, CHAT_ENDPOINT } from './api.js';
export type { BatchObject, BatchStatus } from './api.js';
export { BatchingClient } from './client.js';
export { customIdFor, readResultLine } from './lines.js';
export type { LineOutcome } from './lines.js';
export { createBatchRouter, checkBatchable } from './router.js';
export type { BatchRouter } from './router.js';
export { BatchStateLog, BatchStateStore } from './state.js';
export { BatchStats } from './stats.js';
export { KafkaBatchState } from './kafka-state.js';
export { openBatchMode, checkBatchMode, batchStatePath } from './run-mode.js';
export type { BatchMode } from './run-mode.js';
export { openWorkerBatchMode, KAFKA_BATCH_STAGES, BATCH_RECORD_AGE_MS, BATCH_STATE_SUFFIX } from './worker-mode.js';
export type { WorkerBatchMode } from './worker-mode.js';
