/**
 * What batch mode did, kept apart from the run's other LLM figures so a price with a batch
 * discount can be applied to exactly the tokens the Batch API served: batches by outcome, request
 * lines by outcome, and the tokens of the lines a batch answered (lines retried online are paid at
 * the online price and appear only in the run's overall token counts).
 */
import { LLM_STAGES, type LlmStage, type TokenUsage } from '../../core/records.js';

export class BatchStats {
  /** Batches created (this run) and adopted (submitted by an earlier run, collected by this one). */
  submitted = 0;
  adopted = 0;
  /** Terminal statuses seen, by status. */
  readonly outcomes = new Map<string, number>();
  /** Request lines uploaded by this run (a line submitted again counts again). */
  linesSubmitted = 0;
  /** Lines queued again because their batch was refused for a full queue (`token_limit_exceeded`). */
  resubmitted = 0;
  /** Requests answered from a batch's output file. */
  linesAnswered = 0;
  /** Requests sent online after their line failed, expired, was cancelled or was missing, by reason. */
  readonly retriedOnline = new Map<string, number>();
  readonly tokens: Record<LlmStage, { prompt: number; completion: number; requests: number }> = Object.fromEntries(
    LLM_STAGES.map((s) => [s, { prompt: 0, completion: 0, requests: 0 }]),
  ) as Record<LlmStage, { prompt: number; completion: number; requests: number }>;

  recordOutcome(status: string): void {
    this.outcomes.set(status, (this.outcomes.get(status) ?? 0) + 1);
  }

  recordAnswered(stage: LlmStage, usage: TokenUsage): void {
    this.linesAnswered++;
    const t = this.tokens[stage];
    t.prompt += usage.prompt_tokens;
    t.completion += usage.completion_tokens;
    t.requests++;
  }

  recordRetry(reason: string): void {
    this.retriedOnline.set(reason, (this.retriedOnline.get(reason) ?? 0) + 1);
  }

  retriedTotal(): number {
    let n = 0;
    for (const v of this.retriedOnline.values()) n += v;
    return n;
  }

  totalTokens(): { prompt: number; completion: number } {
    let prompt = 0;
    let completion = 0;
    for (const s of LLM_STAGES) {
      prompt += this.tokens[s].prompt;
      completion += this.tokens[s].completion;
    }
    return { prompt, completion };
  }

  toJSON(): Record<string, unknown> {
    const sorted = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)));
    return {
      batches: { submitted: this.submitted, adopted: this.adopted, by_status: sorted(this.outcomes) },
      lines: { submitted: this.linesSubmitted, resubmitted: this.resubmitted, answered: this.linesAnswered, retried_online: this.retriedTotal(), retried_by_reason: sorted(this.retriedOnline) },
      tokens: { by_stage: this.tokens, total: this.totalTokens() },
    };
  }

  /** One summary line for the run's end. */
  summaryLine(): string {
    const t = this.totalTokens();
    const statuses = [...this.outcomes.entries()].map(([s, n]) => `${n} ${s}`).join(', ');
    const reasons = [...this.retriedOnline.entries()].map(([r, n]) => `${r} ${n}`).join(', ');
    return (
      `batch: ${this.submitted} batches submitted${this.adopted > 0 ? `, ${this.adopted} collected from an earlier run` : ''}` +
      `${statuses === '' ? '' : ` (${statuses})`}; ${this.linesAnswered} requests answered by a batch ` +
      `(${t.prompt} prompt + ${t.completion} completion tokens at the batch price), ` +
      `${this.retriedTotal()} retried online${reasons === '' ? '' : ` (${reasons})`}`
    );
  }
}
