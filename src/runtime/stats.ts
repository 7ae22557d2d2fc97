/**
 * Run statistics: what came in, what each stage passed on, why the rest was rejected, what the
 * LLM cost. The embedded runner fills it, the progress line and the end-of-run summary read it;
 * `toJSON()` is the machine-readable summary (`run --summary FILE`).
 */
import { LLM_STAGES, WORKER_STAGES, type LlmStage, type Rejection, type TokenUsage, type WorkerStage } from '../core/records.js';
import { EXTRACTION_PATHS, type ExtractionPath } from '../input/extractors.js';

export interface StageCounts {
  in: number;
  out: number;
  rejected: number;
  llm_failed: number;
}

/** The summary's key for documents whose language is unknown (ISO 639-2 "undetermined"). */
export const UNKNOWN_LANGUAGE = 'und';

export class RunStats {
  readonly startedAt = Date.now();
  finishedAt: number | null = null;
  documentsRead = 0;
  documentsDone = 0;
  /** Documents that produced at least one verified QA pair. */
  documentsWithQa = 0;
  /** Documents with at least one `llm.failed` rejection (some of their work the LLM never did). */
  documentsLlmFailed = 0;
  qaKept = 0;
  bytesDone = 0;
  /** Per stage, dedup (no LLM call) first. */
  readonly stages: Record<WorkerStage, StageCounts> = Object.fromEntries(
    WORKER_STAGES.map((s) => [s, { in: 0, out: 0, rejected: 0, llm_failed: 0 }]),
  ) as Record<WorkerStage, StageCounts>;
  inputRejected = 0;
  readonly reasons = new Map<string, number>();
  readonly tokens: Record<LlmStage, { prompt: number; completion: number; calls: number }> = Object.fromEntries(
    LLM_STAGES.map((s) => [s, { prompt: 0, completion: 0, calls: 0 }]),
  ) as Record<LlmStage, { prompt: number; completion: number; calls: number }>;

  /**
   * Wall time each stage spent on its records (from the call of the stage to its result, waits
   * for an LLM slot included): the report's slowest stages. `max_ms` is the slowest single record.
   */
  readonly stageTime: Record<WorkerStage, { records: number; total_ms: number; max_ms: number }> = Object.fromEntries(
    WORKER_STAGES.map((s) => [s, { records: 0, total_ms: 0, max_ms: 0 }]),
  ) as Record<WorkerStage, { records: number; total_ms: number; max_ms: number }>;

  recordStageTime(stage: WorkerStage, ms: number): void {
    const t = this.stageTime[stage];
    t.records++;
    t.total_ms += ms;
    if (ms > t.max_ms) t.max_ms = ms;
  }

  /** The configured model of each stage that made a call (for pricing the run's tokens). */
  readonly models: Partial<Record<LlmStage, string>> = {};

  /**
   * Requests answered from the response log instead of an LLM call, per stage, with the tokens
   * the original calls took (what this run did not pay for).
   */
  readonly fromLog: Record<LlmStage, { prompt: number; completion: number; calls: number }> = Object.fromEntries(
    LLM_STAGES.map((s) => [s, { prompt: 0, completion: 0, calls: 0 }]),
  ) as Record<LlmStage, { prompt: number; completion: number; calls: number }>;

  /** Documents a resumed run found finished by the run it continues (not processed again). */
  documentsResumed = 0;

  /** Input records that were not content (WARC request/warcinfo records, redirects...), by reason. */
  readonly inputSkipped = new Map<string, number>();

  /** HTML pages (files and WARC responses) that became documents, by how their main text was found. */
  readonly inputExtraction = new Map<ExtractionPath, number>();

  recordExtraction(path: ExtractionPath): void {
    this.inputExtraction.set(path, (this.inputExtraction.get(path) ?? 0) + 1);
  }

  recordSkip(reason: string, bytes: number): void {
    this.inputSkipped.set(reason, (this.inputSkipped.get(reason) ?? 0) + 1);
    this.bytesDone += bytes;
  }

  /** Documents and kept QA pairs by language (ISO 639-1; `und` when unknown). */
  readonly languages = new Map<string, { documents: number; qa_kept: number }>();

  /** Account one finished document under its language. */
  recordLanguage(language: string | null, qaKept: number): void {
    const key = language === null || language === '' ? UNKNOWN_LANGUAGE : language;
    const entry = this.languages.get(key) ?? { documents: 0, qa_kept: 0 };
    entry.documents++;
    entry.qa_kept += qaKept;
    this.languages.set(key, entry);
  }

  recordRejection(rejection: Rejection): void {
    this.reasons.set(rejection.reason, (this.reasons.get(rejection.reason) ?? 0) + 1);
    if (rejection.stage === 'input') this.inputRejected++;
    else {
      this.stages[rejection.stage].rejected++;
      if (rejection.reason === 'llm.failed') this.stages[rejection.stage].llm_failed++;
    }
  }

  /** Account one LLM call (every call, re-asks included, is metered where it is made). */
  recordCall(stage: LlmStage, usage: TokenUsage, model?: string): void {
    if (model !== undefined) this.models[stage] = model;
    const t = this.tokens[stage];
    t.prompt += usage.prompt_tokens;
    t.completion += usage.completion_tokens;
    t.calls++;
  }

  /** Account one request answered from the response log (not an LLM call). */
  recordFromLog(stage: LlmStage, usage: TokenUsage): void {
    const t = this.fromLog[stage];
    t.prompt += usage.prompt_tokens;
    t.completion += usage.completion_tokens;
    t.calls++;
  }

  totalFromLog(): { prompt: number; completion: number; calls: number } {
    let prompt = 0;
    let completion = 0;
    let calls = 0;
    for (const s of LLM_STAGES) {
      prompt += this.fromLog[s].prompt;
      completion += this.fromLog[s].completion;
      calls += this.fromLog[s].calls;
    }
    return { prompt, completion, calls };
  }

  totalTokens(): { prompt: number; completion: number; calls: number } {
    let prompt = 0;
    let completion = 0;
    let calls = 0;
    for (const s of LLM_STAGES) {
      prompt += this.tokens[s].prompt;
      completion += this.tokens[s].completion;
      calls += this.tokens[s].calls;
    }
    return { prompt, completion, calls };
  }

  /** Share of checked candidates that passed the quality check and decontamination. */
  verificationRate(): number | null {
    const checked = this.stages.check.in;
    return checked === 0 ? null : this.stages.check.out / checked;
  }

  /**
   * Share of the documents read (malformed input lines not counted) that ended with an
   * `llm.failed` rejection; 0 when there were none.
   */
  llmFailedShare(): number {
    const documents = this.documentsRead - this.inputRejected;
    return documents <= 0 ? 0 : this.documentsLlmFailed / documents;
  }

  elapsedMs(): number {
    return (this.finishedAt ?? Date.now()) - this.startedAt;
  }

  toJSON(): Record<string, unknown> {
    const rejections = Object.fromEntries([...this.reasons.entries()].sort(([a], [b]) => a.localeCompare(b)));
    return {
      documents: {
        read: this.documentsRead,
        done: this.documentsDone,
        input_rejected: this.inputRejected,
        with_qa: this.documentsWithQa,
        llm_failed: this.documentsLlmFailed,
      },
      qa_kept: this.qaKept,
      stages: this.stages,
      rejections_by_reason: rejections,
      languages: Object.fromEntries([...this.languages.entries()].sort(([, a], [, b]) => b.documents - a.documents)),
      verification_rate: this.verificationRate(),
      tokens: { by_stage: this.tokens, total: this.totalTokens() },
      from_log: { by_stage: this.fromLog, total: this.totalFromLog() },
      resumed_documents: this.documentsResumed,
      elapsed_ms: this.elapsedMs(),
      models: { ...this.models },
      stage_time_ms: Object.fromEntries(
        WORKER_STAGES.map((s) => {
          const t = this.stageTime[s];
          return [s, { records: t.records, total: Math.round(t.total_ms), max: Math.round(t.max_ms) }];
        }),
      ),
      input_skipped: Object.fromEntries([...this.inputSkipped.entries()].sort(([a], [b]) => a.localeCompare(b))),
      input_extraction: Object.fromEntries(EXTRACTION_PATHS.map((p) => [p, this.inputExtraction.get(p) ?? 0])),
    };
  }
}
