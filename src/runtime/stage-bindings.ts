/**
 * Which topics and record types each stage reads and writes on Kafka, and the stage function it
 * runs. The Kafka worker is generic over these bindings; the stage functions are the same ones the
 * embedded runner drives.
 */
import type { Config } from '../config/schema.js';
import type { WorkerStage } from '../core/records.js';
import type { RecordTypeMap, RecordTypeName } from '../codec/record-types.js';
import { checkStage, dedupStage, filterStage, generateStage, identifyStage } from '../stages/index.js';
import type { StageFn } from '../stages/types.js';

export interface StageBinding<I extends RecordTypeName = RecordTypeName, O extends RecordTypeName = RecordTypeName> {
  stage: WorkerStage;
  inputSuffix: string;
  inputType: I;
  outputSuffix: string;
  outputType: O;
  fn: StageFn<RecordTypeMap[I], RecordTypeMap[O]>;
  /** Document id of an input record (for rejections and logs when decoding worked). */
  docIdOf(input: RecordTypeMap[I]): string;
  /** Record key of an output: the document id, so a document's work stays on one partition. */
  keyOf(output: RecordTypeMap[O]): string;
}

const dedup: StageBinding<'Document', 'Document'> = {
  stage: 'dedup',
  inputSuffix: 'docs.raw',
  inputType: 'Document',
  outputSuffix: 'docs.unique',
  outputType: 'Document',
  fn: dedupStage,
  docIdOf: (d) => d.id,
  keyOf: (o) => o.id,
};

const filter: StageBinding<'Document', 'FilteredDocument'> = {
  stage: 'filter',
  inputSuffix: 'docs.unique',
  inputType: 'Document',
  outputSuffix: 'docs.filtered',
  outputType: 'FilteredDocument',
  fn: filterStage,
  docIdOf: (d) => d.id,
  keyOf: (o) => o.doc.id,
};

const identify: StageBinding<'FilteredDocument', 'GenerationTask'> = {
  stage: 'identify',
  inputSuffix: 'docs.filtered',
  inputType: 'FilteredDocument',
  outputSuffix: 'qa.tasks',
  outputType: 'GenerationTask',
  fn: identifyStage,
  docIdOf: (d) => d.doc.id,
  keyOf: (o) => o.doc.id,
};

const generate: StageBinding<'GenerationTask', 'QaCandidate'> = {
  stage: 'generate',
  inputSuffix: 'qa.tasks',
  inputType: 'GenerationTask',
  outputSuffix: 'qa.candidates',
  outputType: 'QaCandidate',
  fn: generateStage,
  docIdOf: (t) => t.doc.id,
  keyOf: (o) => o.task.doc.id,
};

const check: StageBinding<'QaCandidate', 'QaRecord'> = {
  stage: 'check',
  inputSuffix: 'qa.candidates',
  inputType: 'QaCandidate',
  outputSuffix: 'qa.verified',
  outputType: 'QaRecord',
  fn: checkStage,
  docIdOf: (c) => c.task.doc.id,
  keyOf: (o) => o.doc_id,
};

export const STAGE_BINDINGS: Record<WorkerStage, StageBinding> = {
  dedup: dedup as unknown as StageBinding,
  filter: filter as unknown as StageBinding,
  identify: identify as unknown as StageBinding,
  generate: generate as unknown as StageBinding,
  check: check as unknown as StageBinding,
};

/** The topic a stage reads: with dedup off there is no docs.unique, and the filter reads docs.raw. */
export function inputSuffixOf(binding: StageBinding, config: Config): string {
  return binding.stage === 'filter' && !config.pipeline.dedup.enabled ? 'docs.raw' : binding.inputSuffix;
}

/** The dedup stage's claims log (one partition): its order is the order every dedup worker decides in. */
export const DEDUP_CLAIMS_SUFFIX = 'dedup.claims';
