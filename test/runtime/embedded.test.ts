import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { DocumentRecord, QaRecord, Rejection } from '../../src/core/records.js';
import type { InputItem } from '../../src/input/reader.js';
import type { LlmClient, LlmRouter } from '../../src/llm/types.js';
import { runEmbedded } from '../../src/runtime/embedded.js';
import { Decontaminator, loadFewshotLibrary } from '../../src/stages/index.js';

const REPLIES: Record<string, unknown> = {
  filter_verdict: { reasoning: 'ok', qualified: true },
  domain_and_personas: { reasoning: 'ok', domain: 'Natural Science', personas: ['geologist'] },
  question_answer: { reasoning: 'ok', question: 'Which rock forms when basalt lava cools quickly under the sea?', answer: 'pillow basalt' },
  quality_verdicts: { reasoning: 'ok', has_context: true, answer_correct: true, info_leakage: false },
};

/** Answers every stage correctly, except that it throws a plain bug for documents saying BOOM. */
function router(): LlmRouter {
  const client: LlmClient = {
    backend: 'test',
    model: 'test-model',
    complete(request) {
      if (JSON.stringify(request.messages).includes('BOOM')) return Promise.reject(new TypeError('cannot read properties of undefined'));
      return Promise.resolve({ text: JSON.stringify(REPLIES[request.jsonSchema.name]), model: 'test-model', usage: { prompt_tokens: 10, completion_tokens: 5 }, finishReason: 'stop' });
    },
    close: () => Promise.resolve(),
  };
  return { forStage: () => client, close: () => Promise.resolve() };
}

function doc(id: string, extra = ''): InputItem {
  // The id every few words: the documents are not near-duplicates of each other (dedup keeps all).
  const text = `Basalt ${id} lava that ${id} erupts under ${id} the sea cools ${id} quickly and forms ${id} rounded pillow shapes, ${id} which geologists use ${id} to recognise ancient ${id} sea floor in ${id} mountain belts far ${id} from any ocean ${id} today. ${extra} `.repeat(3);
  const d: DocumentRecord = { id, text, url: null, source: null, ingested_at: 0 };
  return { kind: 'document', doc: d, line: null, bytes: text.length };
}

async function* items(list: InputItem[]): AsyncGenerator<InputItem> {
  yield* list;
}

describe('runEmbedded', () => {
  it('turns a stage failure on one record into a pipeline.error rejection and finishes the rest', async () => {
    const qa: QaRecord[] = [];
    const rejections: Rejection[] = [];
    const { stats, interrupted } = await runEmbedded({
      config: configSchema.parse({ concurrency: 2, llm: { url: 'http://unused/v1' } }),
      llm: router(),
      fewshot: await loadFewshotLibrary(),
      decontaminator: Decontaminator.empty(),
      items: items([doc('a'), doc('boom', 'BOOM'), doc('c')]),
      sinks: { qa: (r) => void qa.push(r), rejection: (r) => void rejections.push(r) },
      logger: pino({ level: 'silent' }),
    });
    expect(interrupted).toBe(false);
    expect(qa.map((q) => q.doc_id).sort()).toEqual(['a', 'c']);
    expect(rejections).toEqual([expect.objectContaining({ doc_id: 'boom', stage: 'filter', reason: 'pipeline.error', detail: expect.stringContaining('INTERNAL') })]);
    expect(stats.documentsDone).toBe(3);
    expect(stats.qaKept).toBe(2);
  });
});
