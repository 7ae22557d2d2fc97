/**
 * One realistic value of every record type, with the awkward cases in it: nulls and non-nulls,
 * non-ASCII text, empty and non-empty maps/arrays, longs above 2^31, binary bytes.
 */
import type { RecordTypeMap, RecordTypeName } from '../../src/codec/index.js';
import type { DocumentRecord, GenerationTask, StageTrace } from '../../src/core/records.js';

const doc: DocumentRecord = {
  id: 'doc-7f3a',
  text: 'Photosynthesis converts light energy into chemical energy — Ünïcødé ✓ 光合作用.\nSecond line.',
  url: 'https://example.org/biology/photosynthesis',
  source: null,
  ingested_at: 1_764_230_400_123,
  crawl_date: 1_764_000_000_000,
  language: 'en',
};

const filterTrace: StageTrace = {
  stage: 'filter',
  model: 'Qwen/Qwen2.5-0.5B-Instruct',
  prompt_version: 'filter-v1',
  prompt_tokens: 3_000_000_000,
  completion_tokens: 41,
  calls: 2,
};
const identifyTrace: StageTrace = { ...filterTrace, stage: 'identify', prompt_version: 'identify-v1', prompt_tokens: 812, calls: 1 };

const task: GenerationTask = {
  doc,
  domain: 'Natural Science',
  persona: 'a high-school biology teacher',
  persona_index: 1,
  persona_count: 3,
  truncated_chars: 0,
  trace: [filterTrace, identifyTrace],
};

export const SAMPLES: { [K in RecordTypeName]: RecordTypeMap[K] } = {
  Document: doc,
  FilteredDocument: { doc: { ...doc, url: null, source: 'common-crawl', crawl_date: null, language: null }, filter_reasoning: 'Informative, self-contained.', truncated_chars: 1200, trace: [filterTrace] },
  GenerationTask: task,
  QaCandidate: {
    task,
    question: 'Which form of energy does photosynthesis store light energy as?',
    answer: 'chemical energy',
    generate_reasoning: 'The first sentence says so.',
    fewshot_ids: ['natsci-003', 'natsci-011'],
    trace: [filterTrace, identifyTrace, { ...filterTrace, stage: 'generate', prompt_version: 'generate-v1' }],
  },
  QaRecord: {
    id: 'qa-9c1e0b',
    doc_id: doc.id,
    question: 'Which form of energy does photosynthesis store light energy as?',
    answer: 'chemical energy',
    domain: 'Natural Science',
    persona: 'a high-school biology teacher',
    source_url: doc.url,
    source: null,
    source_text: doc.text,
    checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: 'Answer stated in the text.' },
    provenance: {
      pipeline_version: '0.1.0',
      prompt_versions: { filter: 'filter-v1', identify: 'identify-v1', generate: 'generate-v1', check: 'check-v1' },
      models: { filter: 'm-a', identify: 'm-a', generate: 'm-b', check: 'm-c' },
      fewshot_ids: ['natsci-003'],
      truncated_chars: 0,
      language: 'en',
    },
    usage: {
      prompt_tokens: 4_000_000_123,
      completion_tokens: 250,
      by_stage: {
        filter: { prompt_tokens: 3_000_000_000, completion_tokens: 41 },
        check: { prompt_tokens: 1_000_000_123, completion_tokens: 209 },
      },
    },
    created_at: 1_764_230_401_999,
  },
  Rejection: {
    doc_id: doc.id,
    stage: 'input',
    reason: 'input.invalid_json',
    detail: 'Unexpected token } in JSON at position 17',
    persona: null,
    line: 42,
    usage: { prompt_tokens: 0, completion_tokens: 0 },
    created_at: 1_764_230_402_000,
    duplicate_of: null,
    question: null,
    answer: null,
    domain: null,
    personas: null,
  },
  DeadLetter: {
    source_topic: 'webscale-rl.docs.raw',
    partition: 3,
    offset: '9007199254740993',
    key: Buffer.from('doc-7f3a'),
    value: Buffer.from([0xc3, 0x01, 0xff, 0x00, 0x80, 0xfe, 0x10]),
    error_code: 'CODEC',
    error: 'cannot decode Document: unknown writer schema fingerprint',
    stage: 'filter',
    created_at: 1_764_230_403_000,
  },
  DedupClaim: {
    doc_id: doc.id,
    source_partition: 11,
    source_offset: 9_007_199_254_740_000,
    exact: Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0xfe]),
    // Band keys are band number x 2^48 plus 48 bits: above 2^31 and up to 2^53.
    bands: [0, 2 ** 48 + 4_294_967_297, 13 * 2 ** 48 + 281_474_976_710_655],
    scheme: 'minhash-w5-b14r8-s0',
    created_at: 1_764_230_404_000,
  },
  LlmResponse: {
    key: 'a3f1c2e4b5d60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
    stage: 'check',
    model: 'Qwen/Qwen2.5-7B-Instruct',
    text: '{"reasoning": "Die Antwort steht im Text — ✓", "has_context": true, "answer_correct": true, "info_leakage": false}',
    finish_reason: null,
    prompt_tokens: 3_000_000_000,
    completion_tokens: 37,
    created_at: 1_764_230_405_000,
  },
};
