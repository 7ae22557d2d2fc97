/**
 * kafkajs logs every failed attempt of a request it retries at ERROR, and a few messages of normal
 * operation at WARN: our log map writes those at info/debug, and leaves real errors at error.
 */
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaLineLevel } from '../../src/kafka/client.js';

const { logLevel } = kafkajs;

describe('kafkajs log levels', () => {
  it('retried broker errors (leader moves, coordinator loading) are debug, as message or as error field', () => {
    expect(kafkaLineLevel(logLevel.ERROR, 'Response Metadata(key: 3, version: 6)', { error: 'This server is not the leader for that topic-partition' })).toBe('debug');
    expect(kafkaLineLevel(logLevel.ERROR, "The coordinator is loading and hence can't process requests for this group", {})).toBe('debug');
    expect(kafkaLineLevel(logLevel.WARN, 'Response FindCoordinator(key: 10, version: 2)', { error: 'The group coordinator is not available' })).toBe('debug');
    // A transactional send racing the previous transaction's commit markers (dlq replay, back to back).
    const concurrent = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
    expect(kafkaLineLevel(logLevel.ERROR, `Failed to send messages: ${concurrent}`, { retryCount: 0 })).toBe('debug');
    expect(kafkaLineLevel(logLevel.ERROR, 'Failed to send messages: Authentication failed', { retryCount: 0 })).toBe('error');
  });

  it('rebalances are info, and the idempotent-retries warning is debug', () => {
    expect(kafkaLineLevel(logLevel.WARN, 'The group is rebalancing, re-joining', {})).toBe('info');
    expect(kafkaLineLevel(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees', {})).toBe('debug');
  });

  it('errors that are not retried stay errors; other levels map one to one', () => {
    expect(kafkaLineLevel(logLevel.ERROR, 'Response SaslAuthenticate(key: 36, version: 1)', { error: 'Authentication failed' })).toBe('error');
    expect(kafkaLineLevel(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: something', {})).toBe('error');
    expect(kafkaLineLevel(logLevel.WARN, 'Could not create topics', { error: 'Topic with this name already exists' })).toBe('warn');
    expect(kafkaLineLevel(logLevel.INFO, 'Consumer has joined the group', {})).toBe('info');
    expect(kafkaLineLevel(logLevel.DEBUG, 'Request Fetch', {})).toBe('debug');
  });
});
