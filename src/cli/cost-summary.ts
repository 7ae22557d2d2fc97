/**
 * The cost part of a run's summary: dollars and tokens spent, cost per verified QA pair, and
 * whether the budget stopped intake (one text line and a JSON object for `--summary`).
 */
import { costPerPair, type BudgetStatus } from '../llm/budget.js';

export interface CostJson {
  usd: number;
  input_tokens: number;
  output_tokens: number;
  calls: number;
  per_verified_qa_usd: number | null;
  budget: { usd: number | null; tokens: number | null; exhausted: boolean; reason: string | null; stopped_intake: boolean };
}

function usd(value: number): string {
  return `$${value < 1 ? value.toFixed(6).replace(/0+$/, '').replace(/\.$/, '.0') : value.toFixed(2)}`;
}

/** "budget $0.05 reached ($0.0512 spent)" or the token form. */
export function budgetLine(status: BudgetStatus): string {
  if (status.reason === 'tokens') {
    return `budget of ${status.limitTokens ?? 0} tokens reached (${status.spent.inputTokens + status.spent.outputTokens} spent)`;
  }
  return `budget ${usd(status.limitUsd ?? 0)} reached (${usd(status.spent.usd)} spent)`;
}

/** `priced`: whether any price is configured (without one, dollars are not known, only tokens). */
export function costSummary(status: BudgetStatus, pairs: number, stoppedIntake: boolean, priced = true): { line: string; json: CostJson } {
  const s = status.spent;
  const per = costPerPair(s.usd, pairs);
  const json: CostJson = {
    usd: s.usd,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    calls: s.calls,
    per_verified_qa_usd: per,
    budget: { usd: status.limitUsd, tokens: status.limitTokens, exhausted: status.exhausted, reason: status.reason, stopped_intake: stoppedIntake },
  };
  let line = `cost: ${priced ? usd(s.usd) : 'not priced (set llm.prices)'} for ${s.calls} LLM calls (${s.inputTokens} prompt + ${s.outputTokens} completion tokens)`;
  if (priced) line += per === null ? ', no verified QA pair' : `, ${usd(per)} per verified QA pair`;
  if (status.exhausted) line += `; ${budgetLine(status)}${stoppedIntake ? ': intake stopped, documents in flight finished' : ''}`;
  return { line, json };
}
