/**
 * The Kafka-side commands as a user runs them, on the real broker: `topics apply`, `ingest` from
 * stdin (malformed lines become input rejections on the rejections topic), `export` to stdout
 * and `tail` following a topic.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers, cleanupKafka, ensureBroker, freshPrefix } from '../support/kafka.js';
import { CLI, runCli } from '../support/cli.js';

beforeAll(ensureBroker, 600_000);
afterAll(cleanupKafka);

describe('Kafka commands', () => {
  it('apply topics, ingest from stdin, export and tail', async () => {
    const prefix = freshPrefix('cli');
    const env = { KAFKA_BROKERS: brokers().join(','), WEBSCALE_LOG_LEVEL: 'warn' };
    const apply = await runCli(['topics', 'apply', '--topic-prefix', prefix, '--partitions', '2'], { env });
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('11 created');
    const again = await runCli(['topics', 'apply', '--topic-prefix', prefix, '--partitions', '2', '--strict'], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 created, 11 unchanged');

    const stdin = [JSON.stringify({ id: 'a', text: 'first document' }), 'not json', JSON.stringify({ id: 'b', text: 'second', url: 'https://x/b' })].join('\n') + '\n';
    const ingest = await runCli(['ingest', '-', '--topic-prefix', prefix], { env, stdin });
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(ingest.stderr).toContain('ingested 2 documents');

    const docs = await runCli(['export', '--topic', 'docs.raw', '--output', '-', '--topic-prefix', prefix], { env });
    expect(docs.code).toBe(0);
    const records = docs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; url: string | null });
    expect(records.map((r) => r.id).sort()).toEqual(['a', 'b']);
    expect(records.find((r) => r.id === 'b')?.url).toBe('https://x/b');

    const tail = spawn(process.execPath, [CLI, 'tail', 'rejections', '--from-beginning', '--topic-prefix', prefix], { env: { ...process.env, ...env } });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('tail printed nothing')), 30_000);
      tail.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve(out.split('\n')[0] ?? '');
        }
      });
    });
    tail.kill('SIGINT');
    const code = await new Promise((r) => tail.on('close', r));
    expect(JSON.parse(line)).toMatchObject({ stage: 'input', reason: 'input.invalid_json', line: 2 });
    expect(code).toBe(0);
  }, 120_000);
});
