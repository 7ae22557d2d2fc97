/** The trainer rows of the shared contract (the Python client writes the same for the same record). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { QaRecord } from '../../src/core/records.js';
import { INSTRUCTION, openRlhfRow, promptText, trlRow, verlRow } from '../../src/export/index.js';
import { qaRecord } from './records.js';

describe('trainer rows', () => {
  const r = { ...qaRecord(1), question: 'How many moons does Mars have?', answer: '2' };
  const prompt = 'How many moons does Mars have?\n\nAnswer the question. Give only the final answer inside \\boxed{}.';

  it('one instruction, appended after a blank line', () => {
    expect(INSTRUCTION).toBe('Answer the question. Give only the final answer inside \\boxed{}.');
    expect(promptText(r)).toBe(prompt);
  });

  it('verl', () => {
    expect(verlRow(r, 41)).toEqual({
      data_source: 'webscale-rl',
      prompt: [{ role: 'user', content: prompt }],
      ability: r.domain,
      reward_model: { style: 'rule', ground_truth: '2' },
      extra_info: { id: r.id, doc_id: r.doc_id, persona: r.persona, domain: r.domain, url: r.source_url, language: 'de', index: 41 },
    });
  });

  it('verl: unknown url and language are null, also for records of writers before provenance.language', () => {
    const { language: _dropped, ...oldProvenance } = r.provenance;
    const row = verlRow({ ...r, source_url: null, provenance: oldProvenance }, 0);
    expect(row.extra_info.url).toBeNull();
    expect(row.extra_info.language).toBeNull();
  });

  it('trl', () => {
    expect(trlRow(r)).toEqual({ prompt: [{ role: 'user', content: prompt }], ground_truth: '2', domain: r.domain, id: r.id, doc_id: r.doc_id });
  });

  it('openrlhf', () => {
    expect(openRlhfRow(r)).toEqual({ input: prompt, label: '2', domain: r.domain, id: r.id });
  });
});

describe('the row contract shared with the Python client', () => {
  // test/clients/rows-contract.json is also read by clients/python/tests/test_rows.py: both
  // implementations must turn its record into exactly its rows.
  const contract = JSON.parse(readFileSync(new URL('../clients/rows-contract.json', import.meta.url), 'utf8')) as {
    record: QaRecord;
    verl: unknown;
    trl: unknown;
    openrlhf: unknown;
  };

  it('verl, trl and openrlhf rows equal the contract', () => {
    expect(verlRow(contract.record, 0)).toStrictEqual(contract.verl);
    expect(trlRow(contract.record)).toStrictEqual(contract.trl);
    expect(openRlhfRow(contract.record)).toStrictEqual(contract.openrlhf);
  });
});
