/**
 * A broker restart mid-run, on a broker this test owns: `scripts/kafka.sh` starts a second
 * single-node Kafka in a temp folder (WEBSCALE_KAFKA_HOME) on two free ports, so stopping it
 * cannot touch the broker other tests and people use, and a broker that someone else started
 * cannot make the test pass by not being restarted. Each step checks what the script said and
 * that the broker really went away and came back; anything else fails the test.
 *
 * Also checks the script's honesty about brokers it did not start: `start` from another home on
 * the same port says it reuses a broker it did not start, and `stop` from there stops nothing and
 * says so (exit 1), while the broker keeps answering.
 *
 * The jars are taken from the development broker's cache when it has them (a symlink; nothing is
 * written there), else kafka.sh fetches them with Maven into the temp folder.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_STAGES } from '../../src/core/records.js';
import { readToEnd } from '../../src/kafka/index.js';
import { createTestTopics, freshPrefix, testKafka } from '../support/kafka.js';
import { PipelineHarness, rejectionKey } from '../support/pipeline.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { freePort } from '../support/worker-metrics.js';

const KAFKA_SH = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));
const KAFKA_VERSION = '4.4.0';

interface ScriptResult {
  code: number;
  output: string;
}

/** scripts/kafka.sh with this test's environment; never throws, the caller checks the result. */
function kafkaSh(command: string, env: Record<string, string>, timeoutMs = 300_000): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile('bash', [KAFKA_SH, command], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * Where each copy of a record written more than once sits (partition, offset, broker time, headers),
 * read straight from the topic, to line up with the workers' log lines (which carry their time).
 */
async function copiesOf(topic: string, keys: ReadonlySet<string>): Promise<string> {
  const seen: string[] = [];
  await readToEnd(testKafka('restart-diagnosis'), topic, (m, partition) => {
    const key = m.key?.toString() ?? '';
    if (!keys.has(key)) return;
    const headers = Object.entries(m.headers ?? {}).map(([k, v]) => `${k}=${String(v)}`.slice(0, 120));
    seen.push(`${key} at ${topic}[${partition}] offset ${m.offset}, ${new Date(Number(m.timestamp)).toISOString()}${headers.length ? `, headers ${headers.join(' ')}` : ''}`);
  });
  return seen.join('\n');
}

let home = '';
let brokerEnv: Record<string, string> = {};
let port = 0;
let started = false;
let llm: StandInLlm;
let slow: StandInLlm;
let h: PipelineHarness;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'wsrl-owned-kafka-'));
  const cachedLib = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'webscale-rl', 'kafka', KAFKA_VERSION, 'lib');
  if (existsSync(join(cachedLib, '.complete'))) await symlink(cachedLib, join(home, 'lib'));
  port = await freePort();
  let controller = await freePort();
  while (controller === port) controller = await freePort();
  // kafka.sh also opens a SASL_SSL listener: on a port of its own, not the shared broker's 19094.
  let sasl = await freePort();
  while (sasl === port || sasl === controller) sasl = await freePort();
  brokerEnv = {
    WEBSCALE_KAFKA_HOME: home,
    KAFKA_VERSION,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controller),
    KAFKA_SASL_PORT: String(sasl),
    KAFKA_HEAP_OPTS: '-Xmx384m -Xms64m',
  };
  const start = await kafkaSh('start', brokerEnv, 600_000);
  expect(start.code, start.output).toBe(0);
  started = true;
  // Ours, freshly started: not a broker that happened to answer.
  expect(start.output).toContain(`starting Kafka ${KAFKA_VERSION} on 127.0.0.1:${port}`);
  expect(start.output).not.toMatch(/REUSING/);
  // Every helper and worker process of this file talks to this broker only.
  process.env['KAFKA_BROKERS'] = `127.0.0.1:${port}`;
  // Fast for the embedded run that says what to expect; slow for the workers, so that the broker
  // goes away while every stage still has work (polling the sink through the CLI takes seconds).
  llm = await startStandInLlm({ latencyMs: 20, maxLog: 100 });
  slow = await startStandInLlm({ latencyMs: 600, maxLog: 100 });
  h = new PipelineHarness(await mkdtemp(join(tmpdir(), 'wsrl-restart-')), llm.url);
}, 900_000);

afterEach(() => h?.killAll());

afterAll(async () => {
  h?.killAll();
  await llm?.close();
  await slow?.close();
  if (started) {
    const stop = await kafkaSh('stop', brokerEnv, 120_000);
    expect(stop.code, stop.output).toBe(0);
  }
  if (home) await rm(home, { recursive: true, force: true });
}, 180_000);

describe('scripts/kafka.sh and a broker restart, on a broker this test owns', () => {
  it('start says it reuses a broker it did not start; stop refuses to stop it, exit 1', async () => {
    const otherHome = await mkdtemp(join(tmpdir(), 'wsrl-other-kafka-'));
    try {
      const env = { ...brokerEnv, WEBSCALE_KAFKA_HOME: otherHome };
      const start = await kafkaSh('start', env);
      expect(start.code, start.output).toBe(0);
      expect(start.output).toContain(`REUSING a broker this script did not start: one already answers on 127.0.0.1:${port}`);
      expect(start.output).toContain("'npm run kafka:stop' will not stop it");
      const stop = await kafkaSh('stop', env);
      expect(stop.code, stop.output).toBe(1);
      expect(stop.output).toContain(`did NOT stop the broker on 127.0.0.1:${port}: this script did not start it`);
      // Still there, and still ours.
      const status = await kafkaSh('status', brokerEnv);
      expect(status.code, status.output).toBe(0);
    } finally {
      await rm(otherHome, { recursive: true, force: true });
    }
  }, 120_000);

  it('the workers ride out a restart of the broker mid-run: exactly once, none exits', async () => {
    const prefix = freshPrefix('restart');
    await createTestTopics(prefix);
    const input = await h.writeInput('restart', 80);
    const expected = await h.embeddedExpectation(input);
    await h.ingest(prefix, input);
    // Few slots and a slow LLM, so the broker goes away while every stage has work in flight.
    const running = WORKER_STAGES.map((s) => h.startWorker(s, prefix, { args: ['--concurrency', '4'], env: { WEBSCALE_LLM_URL: slow.url } }));
    const said = (): string =>
      running
        .map((w, i) => `${WORKER_STAGES[i]} (exit ${w.proc.exitCode}): ${w.stderr().split('\n').filter((l) => l && !l.includes('"component":"kafkajs"')).join('\n').slice(-1500)}`)
        .join('\n');
    const deadline = Date.now() + 90_000;
    let sink: number;
    for (;;) {
      sink = (await h.exportJsonl(prefix, 'qa.verified')).length;
      if (sink >= 5 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(sink, `the sink filled before the restart; the workers said:\n${said()}`).toBeGreaterThanOrEqual(5);
    expect(sink, 'work was left for after the restart').toBeLessThan(expected.qa.size);

    const outageStart = Date.now();
    const stop = await kafkaSh('stop', brokerEnv, 120_000);
    expect(stop.code, stop.output).toBe(0);
    expect(stop.output).toMatch(/stopping pid \d+/);
    expect(stop.output).toContain('stopped');
    // Really gone: nothing answers on its port.
    const down = await kafkaSh('status', brokerEnv);
    expect(down.code, down.output).toBe(1);
    await new Promise((r) => setTimeout(r, 2000));
    const start = await kafkaSh('start', brokerEnv, 300_000);
    expect(start.code, start.output).toBe(0);
    expect(start.output).toContain(`starting Kafka ${KAFKA_VERSION} on 127.0.0.1:${port}`);
    expect(start.output).not.toMatch(/REUSING/);
    const outage = `broker away for ${Math.round((Date.now() - outageStart) / 1000)} s`;

    try {
      await h.waitForCompletion(prefix, expected, 360_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${outage}; the workers said:\n${said()}`, { cause: err });
    }
    await new Promise((r) => setTimeout(r, 3000));
    try {
      await h.assertExactlyOnce(prefix, expected);
    } catch (err) {
      const qa = await h.exportJsonl(prefix, 'qa.verified');
      const keys = [...(await h.exportJsonl(prefix, 'rejections')).map(rejectionKey), ...qa.map((q) => `qa ${String(q['id'])}`)];
      const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
      // Both topics are keyed by document id.
      const docOfQa = new Map(qa.map((q) => [`qa ${String(q['id'])}`, String(q['doc_id'])]));
      const docIds = new Set(twice.map((k) => docOfQa.get(k) ?? k.split('|')[0] ?? ''));
      const copies = [await copiesOf(`${prefix}rejections`, docIds), await copiesOf(`${prefix}qa.verified`, docIds)].filter(Boolean).join('\n');
      throw new Error(`${(err as Error).message}; ${outage}; twice: ${twice.join(', ')}; the copies:\n${copies}\nthe workers said:\n${said()}`, { cause: err });
    }
    // For the record (not asserted: it depends on when each worker rejoined): which workers'
    // consumers kafkajs gave up on while the broker was away, so the worker ran them again.
    const rerun = running.filter((w) => w.stderr().includes('consumer stopped while no broker answered')).length;
    console.info(`broker restart test: ${outage}; ${rerun} of ${running.length} workers ran their consumer again themselves`);
    // The workers rode out the restart themselves: none of them exited.
    for (const w of running) expect(w.proc.exitCode, `${outage}; the workers said:\n${said()}`).toBeNull();
  }, 900_000);
});
