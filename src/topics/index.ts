/**
 * Declarative Kafka topics: specs from `topics/*.yaml` and the idempotent, non-destructive
 * `topics apply` (create missing topics, report drift).
 */
export { AVRO_SCHEMA_VALUE, REQUIRED_TOPIC_CONFIGS, defaultTopicsDir, loadTopicSpecs, specFor, topicSpecSchema } from './spec.js';
export type { TopicSpec } from './spec.js';
export { applyTopics, formatTopicsReport, runTopicsApply } from './apply.js';
export type {
  ApplyTopicsOptions,
  DriftKind,
  RunTopicsApplyOptions,
  TopicDrift,
  TopicReportEntry,
  TopicStatus,
  TopicsApplyReport,
} from './apply.js';
