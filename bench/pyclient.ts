/**
 * Bench mode `pyclient`: the Python trainer client on the real broker. Writes `--pyclient-records`
 * QaRecords (encoded by our TypeScript codec, as the check stage writes them) into a fresh sink
 * topic, then times, in one Python process (bench/pyclient_bench.py, the venv of
 * `test/interop/setup.sh --client`): QaStream reading them all (read_committed), decoding the same
 * values without Kafka, and the rule-based reward scoring one response per record.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createSingleObjectCodec } from '../src/codec/index.js';
import type { Domain, QaRecord } from '../src/core/records.js';
import { brokers, createTestTopics, deletePrefix, ensureBroker, freshPrefix, testKafka } from '../test/support/kafka.js';
import { fixed, int, machineFacts, mb, row } from './format.js';
import type { BenchMode, ModeResult } from './modes.js';

const SETUP = fileURLToPath(new URL('../../test/interop/setup.sh', import.meta.url));
const DRIVER = fileURLToPath(new URL('../../bench/pyclient_bench.py', import.meta.url));
const DOMAINS: readonly Domain[] = ['Math', 'Coding', 'Natural Science', 'Commerce & Economics'];

function record(i: number): QaRecord {
  return {
    id: `bench-qa-${i}`,
    doc_id: `bench-doc-${Math.floor(i / 3)}`,
    question: `In the survey of season ${i}, how many boats did the team use to measure the delta's shifting channels?`,
    answer: String((i % 97) + 1),
    domain: DOMAINS[i % DOMAINS.length] ?? 'Other',
    persona: 'a field hydrologist',
    source_url: `https://example.org/delta/${i}`,
    source: 'bench',
    source_text: null,
    checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: 'The count is stated in the survey notes.' },
    provenance: {
      pipeline_version: '0.1.0',
      prompt_versions: { filter: 'filter-v1', identify: 'identify-v1', generate: 'generate-v1', check: 'check-v1' },
      models: { filter: 'm', identify: 'm', generate: 'm', check: 'm' },
      fewshot_ids: ['natsci-001', 'natsci-002'],
      truncated_chars: 0,
      language: 'en',
    },
    usage: { prompt_tokens: 4200, completion_tokens: 380, by_stage: { generate: { prompt_tokens: 2100, completion_tokens: 200 } } },
    created_at: Date.now(),
  };
}

async function fillSink(topic: string, n: number): Promise<void> {
  const codec = createSingleObjectCodec('QaRecord');
  const producer = testKafka('bench-pyclient').producer({ idempotent: true });
  await producer.connect();
  try {
    for (let start = 0; start < n; start += 1000) {
      const messages = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) {
        const r = record(i);
        messages.push({ key: r.doc_id, value: codec.encode(r) });
      }
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

interface DriverResult {
  stream: { records: number; seconds: number };
  decode: { records: number; seconds: number };
  reward: { pairs: number; seconds: number; mean: number };
  max_rss_kb: number;
}

export const pyclientMode: BenchMode = {
  name: 'pyclient',
  description: 'the Python trainer client: QaStream read rate, decode rate, reward scoring rate',
  implemented: true,
  async run({ options, progress }): Promise<ModeResult> {
    await ensureBroker();
    const python = execFileSync('bash', [SETUP, '--client'], { encoding: 'utf8', timeout: 600_000 }).trim().split('\n').pop() ?? '';
    const prefix = freshPrefix('bench-pyclient');
    const n = options.pyclientRecords;
    try {
      const { names } = await createTestTopics(prefix, undefined, { partitions: options.kafkaPartitions });
      progress(`writing ${n} QaRecords`);
      await fillSink(names['qa.verified'] as string, n);
      progress('reading them with QaStream');
      const out = execFileSync(python, [DRIVER, '--brokers', brokers().join(','), '--prefix', prefix, '--group', `${prefix}bench`], {
        encoding: 'utf8',
        timeout: 600_000,
      });
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as DriverResult;
      if (r.stream.records !== n) throw new Error(`QaStream read ${r.stream.records} of ${n} records`);
      const report = [
        row('records in the sink', `${int(n)} (${options.kafkaPartitions} partitions)`),
        row('QaStream, read_committed, beginning to end', `${int(r.stream.records / r.stream.seconds)} records/s (${fixed(r.stream.seconds, 2)} s)`),
        row('decode only (RecordDecoder)', `${int(r.decode.records / r.decode.seconds)} records/s`),
        row('rule-based reward', `${int(r.reward.pairs / r.reward.seconds)} responses/s`),
        row('Python peak RSS', mb(r.max_rss_kb)),
      ];
      return { report, json: { machine: machineFacts(), records: n, partitions: options.kafkaPartitions, ...r } };
    } finally {
      await deletePrefix(prefix);
    }
  },
};
