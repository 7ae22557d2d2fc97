/** Batch mode: LLM calls through the OpenAI Batch API (`run --batch`). */
export { BatchApi, BATCH_STATUSES, TERMINAL_STATUSES, CHAT_ENDPOINT } from './api.js';
export type { BatchObject, BatchStatus } from './api.js';
export { BatchingClient, customIdFor, readResultLine } from './client.js';
export type { LineOutcome } from './client.js';
export { createBatchRouter, checkBatchable } from './router.js';
export type { BatchRouter } from './router.js';
export { BatchStateLog } from './state.js';
export { BatchStats } from './stats.js';
