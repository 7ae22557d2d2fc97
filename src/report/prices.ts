/**
 * Prices for the report's cost per kept pair, from an optional JSON file (`report --prices`):
 *
 *   { "gpt-4o-mini": { "input": 0.15, "output": 0.60 }, "*": { "input": 0, "output": 0 } }
 *
 * US dollars per million prompt (`input`) and completion (`output`) tokens, by model name as the
 * records name it; `"*"` prices any model not listed. Without a file, or when a model that spent
 * tokens has no price, the report says the cost is unknown and shows tokens only.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { WebscaleError } from '../core/errors.js';
import type { TokenUsage } from '../core/records.js';

const PriceSchema = z.strictObject({
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
});

export const PricesSchema = z.record(z.string().min(1), PriceSchema);
export type Prices = z.infer<typeof PricesSchema>;

export async function loadPrices(path: string): Promise<Prices> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WebscaleError('USAGE', `cannot read the prices file ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WebscaleError('USAGE', `the prices file ${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = PricesSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new WebscaleError('USAGE', `the prices file ${path} is not {"<model>": {"input": USD per 1M tokens, "output": USD per 1M tokens}}: ${where}`);
  }
  return parsed.data;
}

/** US dollars for the usage at the model's price (or "*"), or null when neither is priced. */
export function costOf(usage: TokenUsage, model: string | null, prices: Prices): number | null {
  const price = (model === null ? undefined : prices[model]) ?? prices['*'];
  if (price === undefined) return null;
  return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1_000_000;
}
