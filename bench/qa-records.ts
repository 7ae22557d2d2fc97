/** QA records generated for the export benchmarks (never held all at once). */
import { DOMAINS, type QaRecord } from '../src/core/records.js';

/** Record `i` of a generated sink: sizes like real records, fields varied enough to encode honestly. */
export function benchQaRecord(i: number): QaRecord {
  const domain = DOMAINS[i % DOMAINS.length] ?? 'Other';
  return {
    id: `sha256:${i.toString(16).padStart(64, '0')}`,
    doc_id: `doc-${Math.floor(i / 3)}`,
    question: `In the survey described for site ${i}, how many distinct seasons of field measurements did the researchers record before publishing their ${domain} results?`,
    answer: `${(i * 7919) % 1000}`,
    domain,
    persona: ['a field hydrologist', 'a high-school teacher', 'a science journalist'][i % 3] ?? '',
    source_url: `https://example.org/articles/${i}`,
    source: 'common-crawl',
    source_text: null,
    checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: 'The passage states the count in its second paragraph.' },
    provenance: {
      pipeline_version: '0.1.0',
      prompt_versions: { filter: 'filter-v3', identify: 'identify-v2', generate: 'generate-v4', check: 'check-v3' },
      models: { filter: 'gpt-4.1-mini', identify: 'gpt-4.1-mini', generate: 'gpt-4.1', check: 'gpt-4.1-mini' },
      fewshot_ids: ['natsci-003', 'natsci-011'],
      truncated_chars: 0,
      language: i % 4 === 0 ? 'de' : 'en',
    },
    usage: { prompt_tokens: 5200, completion_tokens: 410, by_stage: { generate: { prompt_tokens: 2100, completion_tokens: 300 } } },
    created_at: 1_764_230_400_000 + i,
  };
}
