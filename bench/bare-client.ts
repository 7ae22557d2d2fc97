/**
 * A control for the throughput figure: the barest client that can talk to the stand-in (undici,
 * same connection cap and concurrency, one realistic request body reused, no pipeline) run in its
 * own process, as the pipeline is. Its mean call time over the configured latency is the
 * per-call overhead of HTTP plus this machine's scheduling; whatever the pipeline adds on top is
 * ours. Prints one JSON line on stdout:
 *   node dist/bench/bare-client.js --url http://127.0.0.1:PORT/v1 --calls 2000 --concurrency 64
 */
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { makeDocument } from './corpus.js';

export interface BareClientResult {
  calls: number;
  concurrency: number;
  wallMs: number;
  /** Mean time from issuing a request to having its parsed JSON reply, ms. */
  meanCallMs: number;
  p99CallMs: number;
  /** This process's CPU per call (user + system), us: the floor for any HTTP client here. */
  cpuUsPerCall: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, calls: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '64' } } });
  if (values.url === undefined) throw new Error('--url is required');
  const calls = Number(values.calls);
  const concurrency = Number(values.concurrency);
  const agent = new Agent({ connections: concurrency, headersTimeout: 0, bodyTimeout: 0 });
  const doc = makeDocument(1, 1).text;
  // Roughly the size and shape of a generate request (instructions, few-shot, document, persona).
  const body = JSON.stringify({
    model: 'stand-in-model',
    messages: [
      { role: 'system', content: 'You write one question and its short answer. '.repeat(40) },
      { role: 'user', content: `<document>\n${doc}\n</document>\npersona: curious student` },
    ],
    temperature: 1,
    max_tokens: 4096,
    response_format: { type: 'json_schema', json_schema: { name: 'question_answer', schema: { type: 'object', properties: { reasoning: { type: 'string' }, question: { type: 'string' }, answer: { type: 'string' } } } } },
  });
  const url = `${values.url}/chat/completions`;
  const cpuBefore = process.cpuUsage();
  const durations: number[] = [];
  let issued = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < calls) {
      issued++;
      const t0 = performance.now();
      const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
      await res.body.json();
      durations.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await agent.close();
  durations.sort((a, b) => a - b);
  const result: BareClientResult = {
    calls: durations.length,
    concurrency,
    wallMs,
    meanCallMs: durations.reduce((a, b) => a + b, 0) / Math.max(1, durations.length),
    p99CallMs: durations[Math.floor(durations.length * 0.99)] ?? 0,
    cpuUsPerCall: (cpu.user + cpu.system) / Math.max(1, durations.length),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench bare-client: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
