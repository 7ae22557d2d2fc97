/**
 * Where the local backend finds its GGUF file: `llm.local.modelPath`, else `WEBSCALE_MODEL_PATH`,
 * else the default model that `npm run model:fetch` provisions into the user's cache. Kept apart
 * from `local.ts` so the CLI and tests can resolve (and report) the path without loading
 * node-llama-cpp's native binary.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { WebscaleError } from '../core/errors.js';

/** The file `scripts/model-fetch.mjs` provisions by default (keep the two in sync). */
export const DEFAULT_LOCAL_MODEL_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';

/** `${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl/models`, the fetch script's target folder. */
export function localModelDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env['XDG_CACHE_HOME'] !== undefined && env['XDG_CACHE_HOME'] !== '' ? env['XDG_CACHE_HOME'] : join(homedir(), '.cache');
  return join(cache, 'webscale-rl', 'models');
}

export function defaultLocalModelPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(localModelDir(env), DEFAULT_LOCAL_MODEL_FILE);
}

export type ModelPathSource = 'config' | 'env' | 'default';

/** The path to use and where it came from; does not check that the file exists. */
export function localModelCandidate(
  modelPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { path: string; source: ModelPathSource } {
  if (modelPath !== undefined) return { path: resolve(modelPath), source: 'config' };
  const fromEnv = env['WEBSCALE_MODEL_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') return { path: resolve(fromEnv), source: 'env' };
  return { path: defaultLocalModelPath(env), source: 'default' };
}

/** The resolved model file, or CONFIG_INVALID with a one-line hint on how to get one. */
export function resolveLocalModelPath(modelPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const { path, source } = localModelCandidate(modelPath, env);
  if (existsSync(path) && statSync(path).isFile()) return path;
  const origin = source === 'config' ? 'llm.local.modelPath' : source === 'env' ? 'WEBSCALE_MODEL_PATH' : 'the default location';
  throw new WebscaleError(
    'CONFIG_INVALID',
    `no local model at ${path} (from ${origin}): run \`npm run model:fetch\` or pass --model-path <file.gguf>`,
    { context: { modelPath: path, source } },
  );
}

/** The model name we report: the GGUF file's base name without the extension. */
export function localModelName(path: string): string {
  return basename(path).replace(/\.gguf$/i, '');
}
