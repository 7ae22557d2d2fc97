/**
 * The harness of the Kafka pipeline tests: stage worker processes (the node process itself, so a
 * signal hits the worker and not a wrapper), a mixed input whose expected outcome comes from the
 * embedded run of the same stage code, and read_committed looks at the topics through the CLI.
 * `PipelineHarness` holds the temp folder, the stand-in LLM URL and the worker processes it
 * started, and kills any still running on `killAll()` (call it in afterEach).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { brokers, cleanupKafka, ensureBroker } from './kafka.js';
import { CLI, runCli } from './cli.js';
import { startStandInLlm, type StandInLlm, type StandInOptions } from './stand-in-llm.js';

export interface Worker {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

export interface Expectation {
  qa: Set<string>;
  rejections: Set<string>;
}

export interface WorkerOptions {
  args?: string[];
  instance?: string;
  env?: Record<string, string>;
}

export function rejectionKey(r: Record<string, unknown>): string {
  return `${String(r['doc_id'])}|${String(r['stage'])}|${String(r['reason'])}|${String(r['persona'])}`;
}

/**
 * Five sentences about a topic; every few words carry numbers of this record, so two records
 * share almost no word 5-gram and the dedup stage keeps each (its expected outcome must not
 * depend on which of two look-alikes a worker saw first).
 */
function prose(topic: string, i: number): string {
  return Array.from(
    { length: 5 },
    (_, k) => `Record ${i} part ${k} describes the ${topic} and the ${i + k + 3} people who studied how it changed across ${i * 7 + k} seasons of careful field work and ${i * 11 + k} laboratory analyses.`,
  ).join(' ');
}

/** Lines of each worker's stderr a failed test prints. */
const STDERR_TAIL_LINES = 30;

export class PipelineHarness {
  readonly workers = new Set<ChildProcess>();
  /** Every worker started since the last `killAll()`, for the report of a failed test. */
  private started: { name: string; proc: ChildProcess; stderr: () => string }[] = [];

  constructor(
    readonly dir: string,
    readonly llmUrl: string,
  ) {}

  env(prefix: string): Record<string, string> {
    return {
      KAFKA_BROKERS: brokers().join(','),
      WEBSCALE_TOPIC_PREFIX: prefix,
      WEBSCALE_LLM_URL: this.llmUrl,
      WEBSCALE_LLM_MODEL: 'stand-in',
      WEBSCALE_LOG_LEVEL: process.env['WEBSCALE_TEST_WORKER_LOG_LEVEL'] ?? 'warn',
    };
  }

  startWorker(stage: string, prefix: string, opts: WorkerOptions = {}): Worker {
    const instance = opts.instance ?? `${stage}-1`;
    const proc = spawn(process.execPath, [CLI, 'stage', stage, '--concurrency', '8', '--instance-id', instance, ...(opts.args ?? [])], {
      env: { ...process.env, ...this.env(prefix), ...opts.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    // Every line a worker said, kept whole for diagnosis (a failed test prints only the tail).
    const keep = process.env['WEBSCALE_TEST_WORKER_LOGS'];
    if (keep) proc.stderr?.pipe(createWriteStream(join(keep, `${prefix}${instance}-${proc.pid ?? 'x'}.log`)));
    this.workers.add(proc);
    this.started.push({ name: `${stage} ${instance} (pid ${proc.pid ?? '?'})`, proc, stderr: () => err });
    const exited = new Promise<number | null>((resolve) =>
      proc.on('close', (code) => {
        this.workers.delete(proc);
        resolve(code);
      }),
    );
    return { proc, exited, stderr: () => err };
  }

  /**
   * What each worker of the test said: its exit code (or "running") and the last lines of its
   * stderr. A failed test prints it, since a CI log is all there is to read afterwards.
   */
  report(): string {
    return this.started
      .map(({ name, proc, stderr }) => {
        const state = proc.exitCode !== null || proc.signalCode !== null ? `exited ${proc.exitCode ?? proc.signalCode}` : 'running';
        const tail = stderr().trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
        return `--- worker ${name}: ${state}\n${tail === '' ? '(no stderr)' : tail}`;
      })
      .join('\n');
  }

  killAll(): void {
    this.started = [];
    for (const w of this.workers) {
      w.kill('SIGCONT');
      w.kill('SIGKILL');
    }
    this.workers.clear();
  }

  /** A mixed input: most documents pass, some are rejected at each stage, one line is malformed. */
  async writeInput(name: string, n: number): Promise<string> {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      let text = prose(['glacier', 'harbour', 'orchard', 'meadow', 'canyon'][i % 5] as string, i);
      if (i % 10 === 3) text += ' [[unqualified]]';
      if (i % 10 === 5) text += ' [[leak]]';
      if (i % 10 === 7) text = `too short ${i}`;
      if (i % 10 === 9) text += ' [[domain:Astrology]]';
      lines.push(JSON.stringify({ id: `${name}-${i}`, text, source: 'test' }));
    }
    lines.push('{"id": "broken-line", "text": ');
    const path = join(this.dir, `${name}.jsonl`);
    await writeFile(path, lines.join('\n') + '\n');
    return path;
  }

  /** QA ids and rejection keys the embedded run produces for the same input. */
  async embeddedExpectation(input: string): Promise<Expectation> {
    const out = join(this.dir, `expected-${Date.now()}.jsonl`);
    const rej = out.replace('.jsonl', '.rej.jsonl');
    const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--llm-url', this.llmUrl, '--llm-model', 'stand-in', '--no-progress']);
    expect(res.code, res.stderr).toBe(0);
    const qa = (await readFile(out, 'utf8')).trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
    const rejections = (await readFile(rej, 'utf8')).trim().split('\n').filter(Boolean).map((l) => rejectionKey(JSON.parse(l) as Record<string, unknown>));
    return { qa: new Set(qa), rejections: new Set(rejections) };
  }

  async ingest(prefix: string, input: string): Promise<void> {
    const res = await runCli(['ingest', input], { env: this.env(prefix) });
    expect(res.code, res.stderr).toBe(0);
  }

  /** Everything committed on a topic now (read_committed), through `webscale-rl export`. */
  async exportJsonl(prefix: string, topic: string): Promise<Record<string, unknown>[]> {
    const out = join(this.dir, `export-${topic}-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`);
    const res = await runCli(['export', '--topic', topic, '--output', out], { env: this.env(prefix) });
    expect(res.code, res.stderr).toBe(0);
    const text = await readFile(out, 'utf8');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Waits until the sink and the rejections hold what the embedded run produced. */
  async waitForCompletion(prefix: string, expected: Expectation, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const qa = await this.exportJsonl(prefix, 'qa.verified');
      const rej = await this.exportJsonl(prefix, 'rejections');
      if (qa.length >= expected.qa.size && rej.length >= expected.rejections.size) return;
      if (Date.now() > deadline) throw new Error(`timed out: sink ${qa.length}/${expected.qa.size}, rejections ${rej.length}/${expected.rejections.size}`);
      await new Promise((r) => setTimeout(r, 1500));
    }
  }

  /** The sink and the rejections hold exactly what the embedded run produced, each once; no dead letter. */
  async assertExactlyOnce(prefix: string, expected: Expectation): Promise<void> {
    const qa = await this.exportJsonl(prefix, 'qa.verified');
    const rej = await this.exportJsonl(prefix, 'rejections');
    const dlq = await this.exportJsonl(prefix, 'dlq');
    const qaIds = qa.map((q) => String(q['id']));
    expect(qaIds.length - new Set(qaIds).size, 'duplicate QA records in the sink').toBe(0);
    expect(new Set(qaIds)).toEqual(expected.qa);
    const rejKeys = rej.map(rejectionKey);
    expect(rejKeys.length - new Set(rejKeys).size, 'duplicate rejections').toBe(0);
    expect(new Set(rejKeys)).toEqual(expected.rejections);
    expect(dlq).toEqual([]);
  }
}

export interface PipelineSuite {
  llm: StandInLlm;
  h: PipelineHarness;
}

/**
 * Registers the usual hooks of a Kafka pipeline test file: the broker, a stand-in LLM with
 * `llmOptions`, a harness in a fresh temp folder; workers killed after each test; topics, groups
 * and the stand-in cleaned up at the end. Read the returned object inside tests.
 */
export function usePipelineSuite(label: string, llmOptions: StandInOptions): PipelineSuite {
  const suite = {} as PipelineSuite;
  beforeAll(async () => {
    await ensureBroker();
    suite.llm = await startStandInLlm(llmOptions);
    suite.h = new PipelineHarness(await mkdtemp(join(tmpdir(), `wsrl-${label}-`)), suite.llm.url);
  }, 600_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') process.stderr.write(`workers of the failed test "${ctx.task.name}":\n${suite.h.report()}\n`);
    suite.h.killAll();
  });
  afterAll(async () => {
    // A file whose own beforeAll failed runs no afterEach: its workers must not outlive it.
    suite.h?.killAll();
    await suite.llm.close();
    await cleanupKafka();
  });
  return suite;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
