/**
 * The pipeline's topics, by suffix. A full topic name is the configured prefix (default
 * `webscale-rl.`) followed by the suffix, so several pipelines can share one cluster.
 */
export const TOPIC_SUFFIXES = [
  'docs.raw',
  'docs.filtered',
  'qa.tasks',
  'qa.candidates',
  'qa.verified',
  'rejections',
  'dlq',
  'docs.unique',
  'dedup.claims',
  'schemas',
  'llm.responses',
] as const;
export type TopicSuffix = (typeof TOPIC_SUFFIXES)[number];

/** The full topic name for a suffix: `topicName('webscale-rl.', 'qa.verified')`. */
export function topicName(prefix: string, suffix: string): string {
  return `${prefix}${suffix}`;
}

/** Consumer group of a stage: `<prefix><stage>` (ARCHITECTURE.md). */
export function groupName(prefix: string, stage: string): string {
  return `${prefix}${stage}`;
}
