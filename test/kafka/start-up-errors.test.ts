/**
 * The errors a Kafka command meets first, each one line that names the cause and the fix: a broker
 * nobody runs (within kafka.connectTimeout, not minutes), a forgotten `topics apply`, a wrong
 * topic prefix, and Ctrl-C while still connecting (exit 130, no stack trace).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { brokersUnreachable, describeConnectError, missingTopicsError } from '../../src/kafka/reachable.js';
import { CLI, runCli } from '../support/cli.js';

const BROKERS = process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092';
let dir: string;
let quickConfig: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsrl-startup-'));
  quickConfig = join(dir, 'quick.yaml');
  await writeFile(quickConfig, 'kafka:\n  connectTimeout: 3s\n');
  await writeFile(join(dir, 'one.jsonl'), JSON.stringify({ text: 'one small document' }) + '\n');
});

describe('start-up errors of the Kafka commands', () => {
  it('a broker nobody runs: exit 1 within the connect timeout, one line naming the address and the fix', async () => {
    const started = Date.now();
    const res = await runCli(['ingest', '--brokers', '127.0.0.1:1', '--config', quickConfig, join(dir, 'one.jsonl')]);
    expect(res.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^webscale-rl: cannot reach Kafka at 127\.0\.0\.1:1: connection refused .*--brokers/);
  });

  it('the development broker address gets the kafka:start hint; unknown hosts say so', () => {
    expect(brokersUnreachable(['127.0.0.1:19092'], 'connection refused', 30_000).message).toMatch(/npm run kafka:start/);
    expect(brokersUnreachable(['kafka.example:9092'], 'connection refused', 30_000).message).not.toMatch(/kafka:start/);
    expect(describeConnectError(new Error('getaddrinfo ENOTFOUND nosuch.invalid'))).toBe('host name not found');
  });

  it('a forgotten topics apply: exit 2, naming the topics and the command that creates them', async () => {
    const prefix = `nope${Date.now().toString(36)}.`;
    const res = await runCli(['ingest', '--brokers', BROKERS, '--topic-prefix', prefix, join(dir, 'one.jsonl')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`missing Kafka topics ${prefix}docs.raw`);
    expect(res.stderr).toMatch(/webscale-rl topics apply/);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a wrong prefix points at the prefix that has the topics', () => {
    const err = missingTopicsError('webscale_rl.', ['docs.raw', 'rejections'], ['webscale-rl.docs.raw', 'webscale-rl.rejections', 'other']);
    expect(err?.message).toMatch(/missing Kafka topics webscale_rl\.docs\.raw, webscale_rl\.rejections; the cluster has them under "webscale-rl\."/);
    expect(missingTopicsError('p.', ['docs.raw'], ['p.docs.raw'])).toBeNull();
  });

  it('Ctrl-C while a stage worker is still connecting exits 130 at once, without a stack trace', async () => {
    const child = spawn(process.execPath, [CLI, 'stage', 'dedup', '--brokers', '127.0.0.1:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    const sent = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(Date.now() - sent).toBeLessThan(3000);
    expect(stderr).toMatch(/interrupted \(SIGINT\) during start-up/);
    expect(stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
