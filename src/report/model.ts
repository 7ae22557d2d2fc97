/**
 * The error analysis of a run, built from its records as they stream past: rejections by stage
 * and reason with a few examples each, the domain and persona mix of kept and rejected pairs, the
 * verification rate, tokens (and cost, with prices) per kept pair and the slowest stages.
 *
 * Memory is bounded by the options, not by the run: examples are capped per reason, distinct
 * domains and personas are counted up to a cap (later ones are counted under "(other)"), and every
 * string kept for an example is clipped. The text and HTML renderers read the finished `Report`.
 */
import { LLM_STAGES, REJECTION_STAGES, WORKER_STAGES, type QaRecord, type Rejection } from '../core/records.js';
import { costOf, type Prices } from './prices.js';

export interface ReportOptions {
  /** Examples kept per reason (default 3). */
  examplesPerReason?: number;
  /** Distinct personas counted before the rest go to "(other)" (default 5,000). */
  maxPersonas?: number;
  /** Characters kept of a question, answer or detail shown as an example (default 600). */
  exampleChars?: number;
  prices?: Prices | null;
}

export const OTHER = '(other)';
const MAX_DOMAINS = 100;
const MAX_REASONS = 200;

/** One rejection shown as an example of its reason. */
export interface RejectionExample {
  doc_id: string;
  persona: string | null;
  question: string | null;
  answer: string | null;
  domain: string | null;
  personas: string[] | null;
  detail: string;
}

export interface ReasonRow {
  stage: string;
  reason: string;
  count: number;
  examples: RejectionExample[];
}

export interface MixRow {
  name: string;
  kept: number;
  rejected: number;
}

export interface StageRow {
  stage: string;
  /** From the run summary; null when only records were read (Kafka). */
  in: number | null;
  out: number | null;
  rejected: number;
}

export interface StageTimeRow {
  stage: string;
  records: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
}

export interface TokenFigures {
  prompt: number;
  completion: number;
  /** LLM calls, when known (run summary). */
  calls: number | null;
  /** True when the totals are the run's metered calls; false when summed from records (see README). */
  exact: boolean;
}

export interface CostFigures {
  /** Null when no price applies to some model that spent tokens (cost unknown). */
  totalUsd: number | null;
  perKeptPairUsd: number | null;
  /** Why cost is unknown, or what it was computed from. */
  note: string;
}

/** What the report was made from, for its heading. */
export interface ReportSource {
  kind: 'run' | 'kafka';
  /** The folder, or the broker list and topic prefix. */
  label: string;
  /** Files or topics read, by role. */
  inputs: Record<string, string>;
}

/** The subset of the run summary (`run --summary`) the report uses; every part optional (older runs). */
export interface RunSummaryJson {
  documents?: { read?: number; input_rejected?: number; with_qa?: number; llm_failed?: number };
  qa_kept?: number;
  stages?: Record<string, { in?: number; out?: number; rejected?: number }>;
  verification_rate?: number | null;
  tokens?: { by_stage?: Record<string, { prompt?: number; completion?: number; calls?: number }>; total?: { prompt?: number; completion?: number; calls?: number } };
  models?: Record<string, string>;
  elapsed_ms?: number;
  stage_time_ms?: Record<string, { records?: number; total?: number; max?: number }>;
  interrupted?: boolean;
}

export interface Report {
  source: ReportSource;
  /** The cap on examples per reason this report was built with. */
  examplesPerReason: number;
  generatedAt: number;
  documents: { read: number; inputRejected: number; withQa: number } | null;
  elapsedMs: number | null;
  qaKept: number;
  rejections: number;
  stages: StageRow[];
  reasons: ReasonRow[];
  verification: { passed: number; checked: number; rate: number | null };
  domains: MixRow[];
  personas: MixRow[];
  /** Distinct personas counted by name (at most the option), for "top N of M". */
  personasDistinct: number;
  /** True when more personas were seen than counted by name (the rest are under "(other)"). */
  personasCapped: boolean;
  tokens: TokenFigures;
  /** Tokens per kept pair: all tokens spent / pairs kept (null with no pair kept). */
  tokensPerKeptPair: number | null;
  /** Mean tokens on a kept pair's own path (its QA record's usage). */
  tokensOnKeptPath: number | null;
  cost: CostFigures;
  /** Model per stage, as the records or the summary name them. */
  models: Record<string, string[]>;
  stageTimes: StageTimeRow[];
  /** Why stage times are missing, when they are. */
  stageTimesNote: string | null;
}

/** Counts by key up to `max` distinct keys; later keys are counted under OTHER. */
class CappedCounter<V> {
  readonly map = new Map<string, V>();
  constructor(
    private readonly max: number,
    private readonly fresh: () => V,
  ) {}

  get(key: string): V {
    let v = this.map.get(key);
    if (v !== undefined) return v;
    const k = this.map.size >= this.max ? OTHER : key;
    v = this.map.get(k);
    if (v === undefined) {
      v = this.fresh();
      this.map.set(k, v);
    }
    return v;
  }
}

function clipText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function stageOrder(stage: string): number {
  const i = (REJECTION_STAGES as readonly string[]).indexOf(stage);
  const order = ['input', 'dedup', 'filter', 'identify', 'generate', 'check'];
  const j = order.indexOf(stage);
  return j >= 0 ? j : i >= 0 ? 10 + i : 100;
}

/** Feed it the rejections and QA records of a run (any order), then `build()`. */
export class ReportBuilder {
  private readonly examplesPerReason: number;
  private readonly exampleChars: number;
  private readonly prices: Prices | null;
  private readonly reasons = new CappedCounter<{ stage: string; count: number; examples: RejectionExample[] }>(MAX_REASONS, () => ({
    stage: '',
    count: 0,
    examples: [],
  }));
  private readonly domains = new CappedCounter<MixRow>(MAX_DOMAINS, () => ({ name: '', kept: 0, rejected: 0 }));
  private readonly personas: CappedCounter<MixRow>;
  private readonly rejectedByStage = new Map<string, number>();
  private readonly models = new Map<string, Set<string>>();
  private qaKept = 0;
  private rejections = 0;
  private checkRejected = 0;
  /** Tokens summed from records; `byModel` for cost. */
  private recordPrompt = 0;
  private recordCompletion = 0;
  private keptPathTokens = 0;
  private readonly tokensByStageModel = new Map<string, { stage: string; model: string | null; prompt: number; completion: number }>();

  constructor(options: ReportOptions = {}) {
    this.examplesPerReason = options.examplesPerReason ?? 3;
    this.exampleChars = options.exampleChars ?? 600;
    this.prices = options.prices ?? null;
    this.personas = new CappedCounter<MixRow>(options.maxPersonas ?? 5000, () => ({ name: '', kept: 0, rejected: 0 }));
  }

  addRejection(r: Rejection): void {
    this.rejections++;
    this.rejectedByStage.set(r.stage, (this.rejectedByStage.get(r.stage) ?? 0) + 1);
    if (r.stage === 'check') this.checkRejected++;
    const entry = this.reasons.get(`${r.stage}\u0000${r.reason}`);
    if (entry.stage === '') entry.stage = r.stage;
    entry.count++;
    if (entry.examples.length < this.examplesPerReason) {
      const clip = (s: string | null | undefined): string | null => (s === null || s === undefined ? null : clipText(s, this.exampleChars));
      entry.examples.push({
        doc_id: clipText(r.doc_id, 200),
        persona: clip(r.persona),
        question: clip(r.question),
        answer: clip(r.answer),
        domain: clip(r.domain),
        personas: r.personas === null || r.personas === undefined ? null : r.personas.slice(0, 5).map((p) => clipText(p, 200)),
        detail: clipText(r.detail, this.exampleChars),
      });
    }
    // A pair turned away counts against its domain and persona (the mix compares pairs with pairs).
    if (r.stage === 'generate' || r.stage === 'check') {
      if (r.domain) this.domains.get(r.domain).rejected++;
      if (r.persona) this.personas.get(r.persona).rejected++;
    }
    this.recordPrompt += r.usage.prompt_tokens;
    this.recordCompletion += r.usage.completion_tokens;
    // Rejections do not say which stage spent what: their tokens are priced under "any model".
    this.addTokens('(rejections)', null, r.usage.prompt_tokens, r.usage.completion_tokens);
  }

  addQa(q: QaRecord): void {
    this.qaKept++;
    this.domains.get(q.domain).kept++;
    this.personas.get(q.persona).kept++;
    for (const [stage, model] of Object.entries(q.provenance.models)) this.noteModel(stage, model);
    const total = q.usage.prompt_tokens + q.usage.completion_tokens;
    this.keptPathTokens += total;
    this.recordPrompt += q.usage.prompt_tokens;
    this.recordCompletion += q.usage.completion_tokens;
    for (const [stage, u] of Object.entries(q.usage.by_stage)) {
      this.addTokens(stage, q.provenance.models[stage] ?? null, u.prompt_tokens, u.completion_tokens);
    }
  }

  private noteModel(stage: string, model: string): void {
    let set = this.models.get(stage);
    if (!set) {
      set = new Set();
      this.models.set(stage, set);
    }
    if (set.size < 20) set.add(model);
  }

  private addTokens(stage: string, model: string | null, prompt: number, completion: number): void {
    const key = `${stage}\u0000${model ?? ''}`;
    let e = this.tokensByStageModel.get(key);
    if (!e) {
      if (this.tokensByStageModel.size >= 500) return;
      e = { stage, model, prompt: 0, completion: 0 };
      this.tokensByStageModel.set(key, e);
    }
    e.prompt += prompt;
    e.completion += completion;
  }

  build(source: ReportSource, summary: RunSummaryJson | null = null): Report {
    for (const [stage, model] of Object.entries(summary?.models ?? {})) this.noteModel(stage, model);

    const reasons: ReasonRow[] = [...this.reasons.map.entries()]
      .map(([key, v]) => ({ stage: v.stage || 'unknown', reason: key === OTHER ? OTHER : (key.split('\u0000')[1] ?? key), count: v.count, examples: v.examples }))
      .sort((a, b) => stageOrder(a.stage) - stageOrder(b.stage) || b.count - a.count || a.reason.localeCompare(b.reason));

    const stageNames = new Set<string>(['input', ...WORKER_STAGES]);
    for (const s of this.rejectedByStage.keys()) stageNames.add(s);
    const stages: StageRow[] = [...stageNames]
      .sort((a, b) => stageOrder(a) - stageOrder(b))
      .map((stage) => {
        const s = summary?.stages?.[stage];
        return { stage, in: s?.in ?? null, out: s?.out ?? null, rejected: this.rejectedByStage.get(stage) ?? s?.rejected ?? 0 };
      })
      .filter((row) => row.rejected > 0 || (row.in ?? 0) > 0);

    // Verification rate: pairs that passed check / pairs checked (passed + turned away by check).
    const checked = this.qaKept + this.checkRejected;
    const verification = { passed: this.qaKept, checked, rate: checked === 0 ? null : this.qaKept / checked };

    const mix = (c: CappedCounter<MixRow>, limit: number): MixRow[] => {
      // Named rows by size; whatever is not shown by name (past the cap or the limit) goes last as one OTHER row.
      const rows = [...c.map.entries()].filter(([name]) => name !== OTHER).map(([name, v]) => ({ name, kept: v.kept, rejected: v.rejected }));
      rows.sort((a, b) => b.kept + b.rejected - (a.kept + a.rejected) || a.name.localeCompare(b.name));
      const capped = c.map.get(OTHER);
      const shown = capped === undefined && rows.length <= limit ? rows : rows.slice(0, limit - 1);
      const rest = rows.slice(shown.length).reduce((acc, r) => ({ name: OTHER, kept: acc.kept + r.kept, rejected: acc.rejected + r.rejected }), {
        name: OTHER,
        kept: capped?.kept ?? 0,
        rejected: capped?.rejected ?? 0,
      });
      return rest.kept + rest.rejected > 0 ? [...shown, rest] : shown;
    };

    const summaryTotal = summary?.tokens?.total;
    const tokens: TokenFigures =
      summaryTotal !== undefined
        ? { prompt: summaryTotal.prompt ?? 0, completion: summaryTotal.completion ?? 0, calls: summaryTotal.calls ?? null, exact: true }
        : { prompt: this.recordPrompt, completion: this.recordCompletion, calls: null, exact: false };
    const qaKept = summary?.qa_kept ?? this.qaKept;
    const allTokens = tokens.prompt + tokens.completion;

    const models: Record<string, string[]> = {};
    for (const stage of LLM_STAGES) {
      const set = this.models.get(stage);
      if (set && set.size > 0) models[stage] = [...set].sort();
    }

    const stageTimes: StageTimeRow[] = [];
    for (const [stage, t] of Object.entries(summary?.stage_time_ms ?? {})) {
      const records = t.records ?? 0;
      if (records === 0) continue;
      const totalMs = t.total ?? 0;
      stageTimes.push({ stage, records, totalMs, meanMs: totalMs / records, maxMs: t.max ?? 0 });
    }
    stageTimes.sort((a, b) => b.meanMs - a.meanMs);
    let stageTimesNote: string | null = null;
    if (stageTimes.length === 0) {
      stageTimesNote =
        source.kind === 'kafka'
          ? 'stage times are not on the topics: see the workers\' webscale_rl_llm_request_duration_seconds metric'
          : 'the summary holds no stage times (written by an older webscale-rl, or no --summary file)';
    }

    const documents = summary?.documents
      ? { read: summary.documents.read ?? 0, inputRejected: summary.documents.input_rejected ?? 0, withQa: summary.documents.with_qa ?? 0 }
      : null;

    return {
      source,
      examplesPerReason: this.examplesPerReason,
      generatedAt: Date.now(),
      documents,
      elapsedMs: summary?.elapsed_ms ?? null,
      qaKept,
      rejections: this.rejections,
      stages,
      reasons,
      verification,
      domains: mix(this.domains, 12),
      personas: mix(this.personas, 15),
      personasDistinct: this.personas.map.size - (this.personas.map.has(OTHER) ? 1 : 0),
      personasCapped: this.personas.map.has(OTHER),
      tokens,
      tokensPerKeptPair: qaKept === 0 ? null : allTokens / qaKept,
      tokensOnKeptPath: this.qaKept === 0 ? null : this.keptPathTokens / this.qaKept,
      cost: this.cost(summary, tokens, qaKept, models),
      models,
      stageTimes,
      stageTimesNote,
    };
  }

  private cost(summary: RunSummaryJson | null, tokens: TokenFigures, qaKept: number, models: Record<string, string[]>): CostFigures {
    if (this.prices === null) {
      return { totalUsd: null, perKeptPairUsd: null, note: 'cost unknown: no prices given (pass --prices FILE)' };
    }
    const prices = this.prices;
    // Exact totals per stage from the summary, priced at that stage's (single) model; else the
    // tokens summed from the records, by the model each record names.
    const parts: Array<{ model: string | null; prompt: number; completion: number }> = [];
    if (summary?.tokens?.by_stage && tokens.exact) {
      for (const [stage, u] of Object.entries(summary.tokens.by_stage)) {
        // The run's own record of the stage's model wins; else the one model its records name.
        const m = models[stage];
        const model = summary.models?.[stage] ?? (m && m.length === 1 ? (m[0] ?? null) : null);
        parts.push({ model, prompt: u.prompt ?? 0, completion: u.completion ?? 0 });
      }
    } else {
      for (const e of this.tokensByStageModel.values()) parts.push({ model: e.model, prompt: e.prompt, completion: e.completion });
    }
    let total = 0;
    const unpriced = new Set<string>();
    for (const p of parts) {
      if (p.prompt + p.completion === 0) continue;
      const usd = costOf({ prompt_tokens: p.prompt, completion_tokens: p.completion }, p.model, prices);
      if (usd === null) unpriced.add(p.model ?? 'unknown model');
      else total += usd;
    }
    if (unpriced.size > 0) {
      return { totalUsd: null, perKeptPairUsd: null, note: `cost unknown: no price for ${[...unpriced].sort().join(', ')} (add it, or "*", to the prices file)` };
    }
    return {
      totalUsd: total,
      perKeptPairUsd: qaKept === 0 ? null : total / qaKept,
      note: tokens.exact ? 'from the run\'s metered tokens' : 'from the tokens the records carry (see README: an estimate)',
    };
  }
}
