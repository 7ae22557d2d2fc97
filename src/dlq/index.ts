/**
 * Dead letters back into the pipeline: `dlq replay` (exactly once, recorded in a replay log) and
 * `dlq stats` (counts by stage, reason and age).
 */
export { dlqStats, dlqTopicsOf, replayDeadLetters } from './replay.js';
export type { DlqContext, ReplayReport, StatsReport } from './replay.js';
export { REPLAYED_FROM_HEADER, REPLAYS_HEADER, replaysOf } from './replay-log.js';
export { selectionFrom } from './select.js';
export type { ReplaySelection } from './select.js';
export { formatAge, replayLines, statsLines } from './tally.js';
