/**
 * The record types that have an Avro schema in `schemas/`, mapped to their TypeScript shapes in
 * `core/records.ts`. The schema file of a type is `schemas/<Name>.avsc`, record name `<Name>`.
 */
import type {
  DeadLetter,
  DedupClaim,
  DocumentRecord,
  LlmResponseRecord,
  FilteredDocument,
  GenerationTask,
  QaCandidate,
  QaRecord,
  Rejection,
} from '../core/records.js';

export interface RecordTypeMap {
  Document: DocumentRecord;
  FilteredDocument: FilteredDocument;
  GenerationTask: GenerationTask;
  QaCandidate: QaCandidate;
  QaRecord: QaRecord;
  Rejection: Rejection;
  DeadLetter: DeadLetter;
  DedupClaim: DedupClaim;
  LlmResponse: LlmResponseRecord;
}
export type RecordTypeName = keyof RecordTypeMap;

export const RECORD_TYPES = [
  'Document',
  'FilteredDocument',
  'GenerationTask',
  'QaCandidate',
  'QaRecord',
  'Rejection',
  'DeadLetter',
  'DedupClaim',
  'LlmResponse',
] as const satisfies readonly RecordTypeName[];

/** Namespace of the current schemas; a breaking change would need a new one (v2). */
export const SCHEMA_NAMESPACE = 'ai.webscale_rl.v1';

export function isRecordTypeName(name: string): name is RecordTypeName {
  return (RECORD_TYPES as readonly string[]).includes(name);
}
