/**
 * Prices and the spending budget. `llm.prices` gives USD per million input (prompt) and output
 * (completion) tokens per model name, with the Batch API's discount factor; `costOf` turns one
 * call's `usage` into dollars (other modules, such as reports, use it too).
 *
 * A `Budget` sums what this process spent and, on Kafka, what the other workers say they spent
 * (`quota-board.ts` feeds it). Once the total reaches `budget.usd` or `budget.tokens` it is
 * exhausted: the embedded run stops taking documents and a stage worker pauses its intake, while
 * the work already in flight finishes (so the overshoot is bounded by what was in flight).
 */
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { TokenUsage } from '../core/records.js';

export interface ModelPrice {
  /** USD per million prompt tokens. */
  input: number;
  /** USD per million completion tokens. */
  output: number;
  /** Price factor of Batch API calls (0.5 = half price). */
  batchDiscount: number;
}

export type Prices = Readonly<Record<string, ModelPrice>>;

/** The price of `model`: its own entry, else the `default` entry; undefined when neither exists. */
export function priceOf(prices: Prices, model: string): ModelPrice | undefined {
  return prices[model] ?? prices['default'];
}

/**
 * Dollars one call cost: usage x the model's prices (x `batchDiscount` for Batch API work).
 * Undefined when the model has no price.
 */
export function costOf(usage: TokenUsage, model: string, prices: Prices, opts: { batch?: boolean } = {}): number | undefined {
  const price = priceOf(prices, model);
  if (price === undefined) return undefined;
  const usd = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1_000_000;
  return opts.batch === true ? usd * price.batchDiscount : usd;
}

export interface Spend {
  usd: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

export const NO_SPEND: Spend = Object.freeze({ usd: 0, inputTokens: 0, outputTokens: 0, calls: 0 });

export function addSpend(a: Spend, b: Spend): Spend {
  return { usd: a.usd + b.usd, inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, calls: a.calls + b.calls };
}

export type BudgetReason = 'usd' | 'tokens';

export interface BudgetStatus {
  limitUsd: number | null;
  limitTokens: number | null;
  spent: Spend;
  exhausted: boolean;
  reason: BudgetReason | null;
}

export interface BudgetOptions {
  usd?: number | undefined;
  tokens?: number | undefined;
  prices: Prices;
  /** Models that cost nothing (the local backend). */
  free?: (model: string) => boolean;
}

export class Budget {
  private own: Spend = { ...NO_SPEND };
  /** What the other workers sharing this budget last said they spent (Kafka). */
  private others: Spend = { ...NO_SPEND };
  private reasonValue: BudgetReason | null = null;
  private readonly listeners: ((status: BudgetStatus) => void)[] = [];
  readonly limitUsd: number | null;
  readonly limitTokens: number | null;

  constructor(private readonly opts: BudgetOptions) {
    this.limitUsd = opts.usd ?? null;
    this.limitTokens = opts.tokens ?? null;
  }

  /** True when a limit is set at all. */
  get limited(): boolean {
    return this.limitUsd !== null || this.limitTokens !== null;
  }

  /** Account one finished call. */
  record(model: string, usage: TokenUsage): void {
    const usd = this.opts.free?.(model) === true ? 0 : (costOf(usage, model, this.opts.prices) ?? 0);
    this.own = addSpend(this.own, { usd, inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, calls: 1 });
    this.check();
  }

  /** This process's spend (what it publishes on Kafka). */
  ownSpend(): Spend {
    return this.own;
  }

  /** The other workers' spend as last heard (replaces the previous figure). */
  setOthers(spend: Spend): void {
    this.others = spend;
    this.check();
  }

  total(): Spend {
    return addSpend(this.ownSpend(), this.others);
  }

  get exhausted(): boolean {
    return this.reasonValue !== null;
  }

  status(): BudgetStatus {
    return { limitUsd: this.limitUsd, limitTokens: this.limitTokens, spent: this.total(), exhausted: this.exhausted, reason: this.reasonValue };
  }

  /** Called once when the budget becomes exhausted. */
  onExhausted(listener: (status: BudgetStatus) => void): void {
    this.listeners.push(listener);
    if (this.exhausted) listener(this.status());
  }

  private check(): void {
    if (this.reasonValue !== null) return;
    const t = this.total();
    if (this.limitUsd !== null && t.usd >= this.limitUsd) this.reasonValue = 'usd';
    else if (this.limitTokens !== null && t.inputTokens + t.outputTokens >= this.limitTokens) this.reasonValue = 'tokens';
    if (this.reasonValue === null) return;
    const status = this.status();
    for (const l of this.listeners) l(status);
  }
}

/**
 * The budget of a run or worker from the config. With `budget.usd`, every model the given stages
 * call must have a price (its own or `default`), else CONFIG_INVALID naming the models: a budget
 * that counts an unpriced model as free would never stop.
 */
export function budgetFromConfig(config: Config, models: { model: string; free: boolean }[]): Budget {
  const prices = config.llm.prices;
  if (config.budget.usd !== undefined) {
    const missing = [...new Set(models.filter((m) => !m.free && priceOf(prices, m.model) === undefined).map((m) => m.model))];
    if (missing.length > 0) {
      throw new WebscaleError(
        'CONFIG_INVALID',
        `budget.usd is set but model${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ha${missing.length > 1 ? 've' : 's'} no price; add llm.prices.<model> (or llm.prices.default) with input and output USD per million tokens`,
      );
    }
  }
  const free = new Set(models.filter((m) => m.free).map((m) => m.model));
  return new Budget({ usd: config.budget.usd, tokens: config.budget.tokens, prices, free: (m) => free.has(m) });
}

/** Cost per verified QA pair, or null before the first one. */
export function costPerPair(usd: number, pairs: number): number | null {
  return pairs > 0 ? usd / pairs : null;
}
