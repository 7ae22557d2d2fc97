/**
 * Model path resolution (config, then WEBSCALE_MODEL_PATH, then the model:fetch cache) and the
 * grammar's string cap, without loading a model.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isWebscaleError } from '../../src/core/errors.js';
import { availableParallelism } from 'node:os';
import { autoThreads, capStrings } from '../../src/llm/local.js';
import {
  DEFAULT_LOCAL_MODEL_FILE,
  defaultLocalModelPath,
  localModelCandidate,
  localModelName,
  resolveLocalModelPath,
} from '../../src/llm/local-model-path.js';

const dir = mkdtempSync(join(tmpdir(), 'webscale-model-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('local model path resolution', () => {
  it('puts the default model under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultLocalModelPath({ XDG_CACHE_HOME: '/x/cache' })).toBe(`/x/cache/webscale-rl/models/${DEFAULT_LOCAL_MODEL_FILE}`);
    expect(defaultLocalModelPath({ HOME: '/home/u' })).toMatch(/\/\.cache\/webscale-rl\/models\//);
  });

  it('prefers the config path, then WEBSCALE_MODEL_PATH, then the default', () => {
    const env = { XDG_CACHE_HOME: '/c', WEBSCALE_MODEL_PATH: '/env/m.gguf' };
    expect(localModelCandidate('rel/m.gguf', env)).toEqual({ path: resolve('rel/m.gguf'), source: 'config' });
    expect(localModelCandidate(undefined, env)).toEqual({ path: '/env/m.gguf', source: 'env' });
    expect(localModelCandidate(undefined, { XDG_CACHE_HOME: '/c' }).source).toBe('default');
  });

  it('returns an existing file and names the model after it', () => {
    const file = join(dir, 'Tiny-Model.Q4_0.gguf');
    writeFileSync(file, 'GGUF');
    expect(resolveLocalModelPath(undefined, { WEBSCALE_MODEL_PATH: file })).toBe(file);
    expect(localModelName(file)).toBe('Tiny-Model.Q4_0');
  });

  it('fails with CONFIG_INVALID naming the source and the fix', () => {
    for (const [modelPath, env, origin] of [
      [join(dir, 'nope.gguf'), {}, 'llm.local.modelPath'],
      [undefined, { WEBSCALE_MODEL_PATH: join(dir, 'nope.gguf') }, 'WEBSCALE_MODEL_PATH'],
      [undefined, { XDG_CACHE_HOME: dir }, 'the default location'],
      // A folder is not a model file.
      [dir, {}, 'llm.local.modelPath'],
    ] as const) {
      let caught: unknown;
      try {
        resolveLocalModelPath(modelPath, env);
      } catch (err) {
        caught = err;
      }
      expect(isWebscaleError(caught, 'CONFIG_INVALID')).toBe(true);
      const message = (caught as Error).message;
      expect(message).toContain(origin);
      expect(message).toContain('npm run model:fetch');
    }
  });
});

describe('capStrings', () => {
  it('caps free-text strings at any depth and leaves enums, consts and explicit caps alone', () => {
    const schema = {
      type: 'object',
      properties: {
        reasoning: { type: 'string' },
        domain: { type: 'string', enum: ['a', 'b'] },
        kind: { type: 'string', const: 'x' },
        short: { type: 'string', maxLength: 5 },
        personas: { type: 'array', items: { type: 'string' } },
        flag: { type: 'boolean' },
      },
      required: ['reasoning'],
    };
    expect(capStrings(schema, 100)).toEqual({
      ...schema,
      properties: {
        reasoning: { type: 'string', maxLength: 100 },
        domain: { type: 'string', enum: ['a', 'b'] },
        kind: { type: 'string', const: 'x' },
        short: { type: 'string', maxLength: 5 },
        personas: { type: 'array', items: { type: 'string', maxLength: 100 } },
        flag: { type: 'boolean' },
      },
    });
    // 0 turns the cap off; the input is never mutated.
    expect(capStrings(schema, 0)).toBe(schema);
    expect(schema.properties.reasoning).toEqual({ type: 'string' });
  });
});

describe('autoThreads', () => {
  it('runs small models on one thread and large ones on every core', () => {
    expect(autoThreads(100_000_000)).toBe(1);
    expect(autoThreads(4_000_000_000)).toBe(availableParallelism());
  });
});
