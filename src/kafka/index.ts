/**
 * Kafka plumbing shared by the CLI, the stage workers and the tests: the kafkajs client factory,
 * topic and group names, small internal topics created on first use, error conversion, TLS/SASL
 * settings and what their failures mean.
 */
export { createKafka, createProducer, kafkaLogLevel } from './client.js';
export type { CreateKafkaOptions, LogLevelName } from './client.js';
export { kafkaError } from './errors.js';
export { headerText } from './headers.js';
export { ensureTopic, listedAfterFailedCreate } from './ensure-topic.js';
export type { EnsureTopicOptions } from './ensure-topic.js';
export { explainKafkaError, isAuthorizationFailure } from './security-errors.js';
export { readToEnd } from './read-to-end.js';
export { followFetchWait, followTopic } from './follow-topic.js';
export type { FollowTopicOptions } from './follow-topic.js';
export { TOPIC_SUFFIXES, groupName, topicName } from './topic-names.js';
export type { TopicSuffix } from './topic-names.js';
export { packageDir } from './package-dir.js';
