/** QA records made for the export tests: varied domains, languages and creation times. */
import { DOMAINS, type QaRecord } from '../../src/core/records.js';

export const LANGUAGES = ['en', 'de', null] as const;

/** Record `i` of a set: domain cycles through DOMAINS, language through LANGUAGES, created 1 h apart back from `newest`. */
export function qaRecord(i: number, newest = Date.UTC(2026, 10, 29, 12, 0, 0)): QaRecord {
  const domain = DOMAINS[i % DOMAINS.length] ?? 'Other';
  return {
    id: `qa-${i}`,
    doc_id: `doc-${Math.floor(i / 2)}`,
    question: `What is the value number ${i} in the ${domain} table — ünïcødé ✓?`,
    answer: `${i * 7}`,
    domain,
    persona: `persona ${i % 3}`,
    source_url: i % 4 === 0 ? null : `https://example.org/${i}`,
    source: i % 5 === 0 ? null : 'test',
    source_text: null,
    checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: `checked ${i}` },
    provenance: {
      pipeline_version: '0.1.0',
      prompt_versions: { filter: 'filter-v1', identify: 'identify-v1', generate: 'generate-v1', check: 'check-v1' },
      models: { filter: 'm-small', check: 'm-small', generate: 'm-large' },
      fewshot_ids: i % 2 === 0 ? [] : ['natsci-003', 'math-001'],
      truncated_chars: i % 3,
      language: LANGUAGES[i % LANGUAGES.length] ?? null,
    },
    usage: {
      prompt_tokens: 3_000_000_000 + i,
      completion_tokens: 40 + i,
      by_stage: { generate: { prompt_tokens: 900, completion_tokens: 30 }, check: { prompt_tokens: 700, completion_tokens: 10 + i } },
    },
    created_at: newest - i * 3_600_000,
  };
}

export function qaRecords(n: number, newest?: number): QaRecord[] {
  return Array.from({ length: n }, (_, i) => qaRecord(i, newest));
}
