/**
 * The rows RL trainers read, made from a sink record. One contract shared with the Python
 * client (`webscale_rl.rows` in `clients/python/`): for the same QaRecord both must produce the
 * same row, field for field, so a dataset exported here and one streamed into a trainer there
 * train alike.
 *
 * - verl: `data_source`, chat `prompt`, `ability`, `reward_model` {style, ground_truth},
 *   `extra_info` (what verl hands to `compute_score` as its fourth argument);
 * - TRL: chat `prompt` plus `ground_truth` and other columns that GRPOTrainer passes to reward
 *   functions as keyword arguments;
 * - OpenRLHF: plain `input` text and `label`, read with `--input_key input --label_key label`.
 */
import type { QaRecord } from '../core/records.js';

/** Appended to every question: trainers score the boxed answer. Same text in the Python client. */
export const INSTRUCTION = 'Answer the question. Give only the final answer inside \\boxed{}.';

/** `data_source` of verl rows: verl picks the reward function by it. */
export const DATA_SOURCE = 'webscale-rl';

export interface ChatMessage {
  role: 'user';
  content: string;
}

export interface VerlRow {
  data_source: string;
  prompt: ChatMessage[];
  ability: string;
  reward_model: { style: 'rule'; ground_truth: string };
  extra_info: {
    id: string;
    doc_id: string;
    persona: string;
    domain: string;
    url: string | null;
    language: string | null;
    index: number;
  };
}

export interface TrlRow {
  prompt: ChatMessage[];
  ground_truth: string;
  domain: string;
  id: string;
  doc_id: string;
}

export interface OpenRlhfRow {
  input: string;
  label: string;
  domain: string;
  id: string;
}

export function promptText(record: Pick<QaRecord, 'question'>): string {
  return `${record.question}\n\n${INSTRUCTION}`;
}

function chat(record: QaRecord): ChatMessage[] {
  return [{ role: 'user', content: promptText(record) }];
}

/** `index` is the row's 0-based position in the export (after filters). */
export function verlRow(record: QaRecord, index: number): VerlRow {
  return {
    data_source: DATA_SOURCE,
    prompt: chat(record),
    ability: record.domain,
    reward_model: { style: 'rule', ground_truth: record.answer },
    extra_info: {
      id: record.id,
      doc_id: record.doc_id,
      persona: record.persona,
      domain: record.domain,
      url: record.source_url,
      language: record.provenance.language ?? null,
      index,
    },
  };
}

export function trlRow(record: QaRecord): TrlRow {
  return { prompt: chat(record), ground_truth: record.answer, domain: record.domain, id: record.id, doc_id: record.doc_id };
}

export function openRlhfRow(record: QaRecord): OpenRlhfRow {
  return { input: promptText(record), label: record.answer, domain: record.domain, id: record.id };
}
