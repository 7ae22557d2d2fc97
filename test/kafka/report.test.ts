/**
 * `webscale-rl report <topic prefix>` on the real broker: the prefix's rejections and qa.verified
 * topics, Avro as the workers write them (Rejection v3 with the pair), read to their end; the text
 * and the page carry the counts, the examples and the verification rate. A prefix without topics
 * says to run `topics apply`.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSingleObjectCodec } from '../../src/codec/index.js';
import type { QaRecord, Rejection } from '../../src/core/records.js';
import { SAMPLES } from '../codec/samples.js';
import { runCli } from '../support/cli.js';
import { brokers, cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { loadTopicSpecs } from '../../src/topics/index.js';

beforeAll(ensureBroker, 600_000);
afterAll(cleanupKafka);

describe('webscale-rl report <topic prefix>', () => {
  it('reads rejections and qa.verified to their end and reports them', async () => {
    const prefix = freshPrefix('report');
    const { names } = await createTestTopics(prefix, loadTopicSpecs().filter((s) => s.suffix === 'rejections' || s.suffix === 'qa.verified'));
    const rejectionCodec = createSingleObjectCodec('Rejection');
    const qaCodec = createSingleObjectCodec('QaRecord');
    const base = SAMPLES.Rejection as Rejection;
    const rejections: Rejection[] = [
      { ...base, doc_id: 'w1', stage: 'check', reason: 'check.incorrect', detail: 'answer_correct=false: it was 1815', persona: 'historian', line: null, question: 'When did the Congress of Vienna end?', answer: '1816', domain: 'Social Science', usage: { prompt_tokens: 400, completion_tokens: 40 } },
      { ...base, doc_id: 'w2', stage: 'identify', reason: 'identify.unknown_domain', detail: 'model returned domain "Astrology"', line: null, personas: ['stargazer'] },
      ...Array.from({ length: 5 }, (_, i): Rejection => ({ ...base, doc_id: `s${i}`, stage: 'filter', reason: 'filter.too_short', detail: '3 words', line: null })),
    ];
    const sample = SAMPLES.QaRecord as QaRecord;
    const kept: QaRecord[] = [
      { ...sample, id: 'k1', domain: 'Math', persona: 'teacher' },
      { ...sample, id: 'k2', domain: 'Math', persona: 'teacher' },
      { ...sample, id: 'k3', domain: 'Social Science', persona: 'historian' },
    ];
    const producer = testKafka('report').producer();
    await producer.connect();
    try {
      await producer.send({ topic: names['rejections'] ?? '', messages: rejections.map((r) => ({ key: r.doc_id, value: rejectionCodec.encode(r) })) });
      await producer.send({ topic: names['qa.verified'] ?? '', messages: kept.map((q) => ({ key: q.doc_id, value: qaCodec.encode(q) })) });
    } finally {
      await producer.disconnect();
    }

    const dir = await mkdtemp(join(tmpdir(), 'wsrl-report-kafka-'));
    const env = { KAFKA_BROKERS: brokers().join(','), WEBSCALE_LOG_LEVEL: 'warn' };
    const res = await runCli(['report', prefix, '--html', join(dir, 'page.html')], { env, timeoutMs: 90_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`${prefix}rejections (7 records)`);
    expect(res.stdout).toContain(`${prefix}qa.verified (3 records)`);
    expect(res.stdout).toContain('QA pairs kept: 3; rejections: 7');
    expect(res.stdout).toContain('verification rate (check passed / checked): 75.0% (3 of 4)');
    expect(res.stdout).toMatch(/filter\.too_short\s+5/);
    expect(res.stdout).toContain('Q: When did the Congress of Vienna end?');
    expect(res.stdout).toContain('A: 1816');
    expect(res.stdout).toContain('personas: stargazer');
    expect(res.stdout).toMatch(/Math\s+2 \/ 0/);
    expect(res.stdout).toContain("stage times are not on the topics");
    const html = await readFile(join(dir, 'page.html'), 'utf8');
    expect(html).toContain('id="chart-reasons"');
    expect(html).toContain('When did the Congress of Vienna end?');

    // The prefix as --topic-prefix, like the other Kafka commands; without --html nothing is written, and it says so.
    const textOnly = await runCli(['report', '--topic-prefix', prefix], { env, timeoutMs: 90_000, cwd: dir });
    expect(textOnly.code, textOnly.stderr).toBe(0);
    expect(textOnly.stdout).toContain('QA pairs kept: 3; rejections: 7');
    expect(textOnly.stderr).toContain('report page: not written (name a file with --html)');
  }, 180_000);

  it('a prefix without the topics: exit 2, naming topics apply', async () => {
    const prefix = freshPrefix('report-none');
    const res = await runCli(['report', prefix], { env: { KAFKA_BROKERS: brokers().join(',') }, timeoutMs: 90_000 });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('topics apply');
    expect(res.stderr).toContain(`${prefix}rejections`);
  }, 120_000);
});
