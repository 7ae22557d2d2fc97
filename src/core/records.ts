/**
 * The records that flow between stages, in the shape they have on the wire (snake_case, so the
 * JSON lines of `run`, the Avro schemas in `schemas/` and these types name fields alike).
 * A record carries its document and a `trace` of the LLM stages it went through, so the sink
 * record can report the model, prompt version and token usage of every stage (provenance).
 */

export const DOMAINS = [
  'Math',
  'Technology & Engineering',
  'Coding',
  'Social Science',
  'Natural Science',
  'Travel & Lifestyle',
  'Commerce & Economics',
  'Medicine & Health',
  'Education',
  'Other',
] as const;
export type Domain = (typeof DOMAINS)[number];

/** The stages that call an LLM, in pipeline order. */
export const LLM_STAGES = ['filter', 'identify', 'generate', 'check'] as const;
export type LlmStage = (typeof LLM_STAGES)[number];

/** Stages a Kafka worker can run (`webscale-rl stage <name>`): dedup makes no LLM call. */
export const WORKER_STAGES = ['dedup', ...LLM_STAGES] as const;
export type WorkerStage = (typeof WORKER_STAGES)[number];

/** Where a rejection was decided: the LLM stages plus input validation and deduplication. */
export const REJECTION_STAGES = ['input', ...LLM_STAGES, 'dedup'] as const;
export type RejectionStage = (typeof REJECTION_STAGES)[number];

/**
 * Every reason a document or QA pair can be turned away. Stable codes: users count them, the
 * summary groups by them, and the Avro schema stores them as strings so new codes stay compatible.
 */
export const REASON_CODES = [
  // input validation (run / ingest)
  'input.invalid_json',
  'input.not_object',
  'input.missing_text',
  'input.invalid_field',
  'input.invalid_utf8',
  // input sources (WARC/WET/HTML/compressed/parquet; appended)
  'input.too_large',
  'input.unsupported_content_type',
  'input.undecodable',
  'input.no_content',
  'input.unreadable',
  // heuristic pre-filter (no LLM call)
  'filter.too_short',
  'filter.too_long',
  'filter.binary',
  'filter.low_alpha',
  'filter.repetitive',
  // LLM stages
  'filter.unqualified',
  'filter.invalid_output',
  'identify.unknown_domain',
  'identify.no_personas',
  'identify.invalid_output',
  'generate.invalid_output',
  'check.not_a_question',
  'check.no_context',
  'check.incorrect',
  'check.leakage',
  'check.empty_answer',
  'check.answer_too_long',
  'check.contaminated',
  'check.invalid_output',
  // transport: retries exhausted or a non-retryable LLM error
  'llm.failed',
  // embedded mode: the stage itself failed on this record (a bug); the Kafka worker dead-letters
  'pipeline.error',
  // pre-filter, language and crawl-quality rules (no LLM call; see src/stages/quality-rules.ts)
  'filter.language',
  'filter.line_punctuation',
  'filter.duplicate_lines',
  'filter.boilerplate',
  'filter.symbols',
  'filter.bullet_lines',
  'filter.ellipsis_lines',
  'filter.repeated_ngrams',
  // deduplication (no LLM call): `duplicate_of` names the document kept
  'dedup.exact',
  'dedup.near',
  // crawl bridge and follower (ingest --from-topic / --follow)
  'input.invalid_warc',
  'input.unsupported_content_type',
  'input.too_large',
  'input.unreadable',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** One LLM stage's footprint on a record. */
export interface StageTrace {
  stage: LlmStage;
  model: string;
  prompt_version: string;
  prompt_tokens: number;
  completion_tokens: number;
  /** LLM calls made, re-asks for invalid output included. */
  calls: number;
}

export interface DocumentRecord {
  id: string;
  text: string;
  url: string | null;
  source: string | null;
  /** Epoch ms when the document entered the pipeline. */
  ingested_at: number;
  /** Epoch ms when the page was fetched (WARC-Date), when known. Absent on records of older writers. */
  crawl_date?: number | null;
  /** ISO 639-1 language code, from crawl headers or detected at ingest; null when unknown. */
  language?: string | null;
}

export interface FilteredDocument {
  doc: DocumentRecord;
  filter_reasoning: string;
  /** Characters cut from the document by the size rule (0 when whole). */
  truncated_chars: number;
  trace: StageTrace[];
}

export interface GenerationTask {
  doc: DocumentRecord;
  domain: Domain;
  persona: string;
  /** 0-based position of this persona among the document's personas, and how many there are. */
  persona_index: number;
  persona_count: number;
  truncated_chars: number;
  trace: StageTrace[];
}

export interface QaCandidate {
  task: GenerationTask;
  question: string;
  answer: string;
  generate_reasoning: string;
  fewshot_ids: string[];
  trace: StageTrace[];
}

export interface CheckVerdicts {
  has_context: boolean;
  answer_correct: boolean;
  info_leakage: boolean;
  reasoning: string;
}

export interface Provenance {
  pipeline_version: string;
  prompt_versions: Record<string, string>;
  models: Record<string, string>;
  fewshot_ids: string[];
  truncated_chars: number;
  /** Language of the source document (ISO 639-1), when known. */
  language?: string | null;
}

/** The sink record: what an RL trainer reads. */
export interface QaRecord {
  id: string;
  doc_id: string;
  question: string;
  answer: string;
  domain: Domain;
  persona: string;
  source_url: string | null;
  source: string | null;
  /** The document text, only when `pipeline.includeSourceText` is on. */
  source_text: string | null;
  checks: CheckVerdicts;
  provenance: Provenance;
  usage: TokenUsage & { by_stage: Record<string, TokenUsage> };
  created_at: number;
}

export interface Rejection {
  doc_id: string;
  stage: RejectionStage;
  reason: ReasonCode;
  detail: string;
  /** Set when the rejection concerns one persona's QA pair rather than the whole document. */
  persona: string | null;
  /** 1-based input line, for input rejections from a JSON-lines file. */
  line: number | null;
  /** Tokens spent on this document or pair before it was rejected. */
  usage: TokenUsage;
  created_at: number;
  /** For dedup rejections: id of the document that was kept. */
  duplicate_of?: string | null;
  /**
   * generate and check: the pair that was turned away, so a person can judge the model and the
   * prompts from the rejections alone. Absent (null from Avro) elsewhere or when the model gave none.
   */
  question?: string | null;
  answer?: string | null;
  /** The domain identify gave the document, when known at the point of rejection. */
  domain?: string | null;
  /** identify: the personas the model proposed (cleaned), e.g. beside an unknown domain. */
  personas?: string[] | null;
}

/**
 * A dedup worker's claim for one input document (topic `dedup.claims`, one partition): every
 * dedup worker replays the claims in log order and reaches the same decision for each.
 */
/** One entry of the LLM response log on Kafka (topic `llm.responses`; see src/llm/response-log/). */
export interface LlmResponseRecord {
  /** Hex SHA-256 of what decides the completion; also the message key. */
  key: string;
  stage: string;
  model: string;
  text: string;
  finish_reason: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  created_at: number;
}

export interface DedupClaim {
  doc_id: string;
  /** Where the document was read (docs.raw): a second claim for the same record gets the first one's decision. */
  source_partition: number;
  source_offset: number;
  /** 16 bytes of SHA-256 of the normalised text. */
  exact: Buffer;
  /** LSH band keys of the MinHash signature (empty for a document without words). */
  bands: number[];
  /** Names the hashing (n-gram, bands, rows, seed): claims of another scheme are ignored. */
  scheme: string;
  created_at: number;
}

export interface DeadLetter {
  source_topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  error_code: string;
  error: string;
  stage: string;
  created_at: number;
}

export function sumUsage(trace: readonly StageTrace[]): TokenUsage {
  let prompt = 0;
  let completion = 0;
  for (const t of trace) {
    prompt += t.prompt_tokens;
    completion += t.completion_tokens;
  }
  return { prompt_tokens: prompt, completion_tokens: completion };
}
