/**
 * Shared set-up for the local-model tests: make sure the default GGUF model is provisioned (by
 * running the same `model:fetch` script users run) and build configs that point at it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { defaultLocalModelPath } from '../../src/llm/local-model-path.js';

export const FETCH_SCRIPT = fileURLToPath(new URL('../../scripts/model-fetch.mjs', import.meta.url));

/** Path of the test model: WEBSCALE_MODEL_PATH if set, else the default one, fetched if missing. */
export function ensureModel(): string {
  const fromEnv = process.env['WEBSCALE_MODEL_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const path = defaultLocalModelPath();
  if (!existsSync(path)) {
    const printed = execFileSync(process.execPath, [FETCH_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (printed.trim() !== path) throw new Error(`model:fetch printed ${printed.trim()}, expected ${path}`);
  }
  return path;
}

export function localConfig(modelPath: string, local: Record<string, unknown> = {}, llm: Record<string, unknown> = {}): Config {
  const input: ConfigInput = {
    llm: { backend: 'local', ...llm, local: { modelPath, contextSize: 2048, ...local } },
  } as ConfigInput;
  return configSchema.parse(input);
}
