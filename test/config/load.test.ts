import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

describe('loadConfig', () => {
  it('applies defaults', async () => {
    const c = await loadConfig({ env: { WEBSCALE_LLM_URL: 'http://llm:8000/v1' } });
    expect(c.concurrency).toBe(32);
    expect(c.pipeline.minTokens).toBe(50);
    expect(c.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(c.kafka.topicPrefix).toBe('webscale-rl.');
    expect(c.llm.backend).toBe('auto');
  });

  it('lays compact defaults for the local backend under what the user set', async () => {
    const local = await loadConfig({ env: {} });
    expect(local.concurrency).toBe(1);
    expect(local.pipeline.promptDocumentChars).toBe(1200);
    expect(local.pipeline.fewshotPerPrompt).toBe(0);
    expect(local.pipeline).toMatchObject({ llmFilter: false, promptStyle: 'compact', reasoningLast: true });
    expect(local.llm.local.maxStringChars).toBeLessThanOrEqual(local.pipeline.maxAnswerChars);
    // Each can still be set back by the user.
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-config-'));
    await writeFile(join(dir, 'full.yaml'), 'pipeline:\n  llmFilter: true\n  promptStyle: full\n  reasoningLast: false\n');
    const full = await loadConfig({ file: join(dir, 'full.yaml'), env: {} });
    expect(full.pipeline).toMatchObject({ llmFilter: true, promptStyle: 'full', reasoningLast: false, fewshotPerPrompt: 0 });
    expect(local.llm.local.contextSize).toBe(2048);
    const tuned = await loadConfig({ env: {}, overrides: { concurrency: 4, llmBackend: 'local' } });
    expect(tuned.concurrency).toBe(4);
    expect(tuned.pipeline.maxPersonas).toBe(2);
    // A served model keeps the paper's settings.
    const served = await loadConfig({ env: { HF_TOKEN: 'hf_x', WEBSCALE_LLM_MODEL: 'org/model' } });
    expect(served.pipeline.promptDocumentChars).toBeUndefined();
    expect(served.pipeline.fewshotPerPrompt).toBe(2);
    expect(served.pipeline).toMatchObject({ llmFilter: true, promptStyle: 'full', reasoningLast: false });
  });

  it('layers file < env < flags and compiles durations to ms', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-config-'));
    const file = join(dir, 'c.yaml');
    await writeFile(
      file,
      ['concurrency: 8', 'llm:', '  url: http://file:1/v1', '  model: file-model', '  timeout: 45s', '  stages:', '    check:', '      model: small-checker'].join('\n'),
    );
    const c = await loadConfig({
      file,
      env: { WEBSCALE_LLM_MODEL: 'env-model', KAFKA_BROKERS: 'a:1, b:2', HF_TOKEN: 'hf_secret' },
      overrides: { llmUrl: 'http://flag:2/v1', concurrency: 64 },
    });
    expect(c.concurrency).toBe(64);
    expect(c.llm.url).toBe('http://flag:2/v1');
    expect(c.llm.model).toBe('env-model');
    expect(c.llm.timeout).toBe(45_000);
    expect(c.llm.token).toBe('hf_secret');
    expect(c.llm.stages.check?.model).toBe('small-checker');
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
  });

  it('reads rate limits, prices and the budget; flags set the budget over the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-cfg-'));
    const file = join(dir, 'c.yaml');
    await writeFile(file, 'llm:\n  rateLimit: { rpm: 600, tpm: 60000 }\n  prices:\n    m: { input: 0.15, output: 0.6 }\n  stages:\n    check: { rateLimit: { rpm: 100 } }\nbudget: { usd: 5 }\nkafka: { quotaHeartbeat: 500ms }\n');
    const c = await loadConfig({ file, env: {}, overrides: { budgetUsd: 2, budgetTokens: 1000 } });
    expect(c.llm.rateLimit).toEqual({ rpm: 600, tpm: 60000, target: 0.97, burst: 1000 });
    expect(c.llm.stages.check?.rateLimit).toEqual({ rpm: 100 });
    expect(c.llm.prices['m']).toEqual({ input: 0.15, output: 0.6, batchDiscount: 0.5 });
    expect(c.budget).toEqual({ usd: 2, tokens: 1000, name: 'default' });
    expect(c.kafka.quotaHeartbeat).toBe(500);
    await writeFile(file, 'llm:\n  rateLimit: { rpm: -1, target: 2 }\n  prices:\n    m: { input: 1 }\n');
    await expect(loadConfig({ file, env: {} })).rejects.toThrow(/llm\.rateLimit\.rpm.*llm\.rateLimit\.target.*llm\.prices\.m\.output/);
  });

  it('progressInterval: 10 s by default; seconds or a duration from env and flag, the flag winning', async () => {
    expect((await loadConfig({ env: {} })).progressInterval).toBe(10_000);
    expect((await loadConfig({ env: { WEBSCALE_PROGRESS_INTERVAL: '2.5' } })).progressInterval).toBe(2500);
    expect((await loadConfig({ env: { WEBSCALE_PROGRESS_INTERVAL: '2m' } })).progressInterval).toBe(120_000);
    const both = await loadConfig({ env: { WEBSCALE_PROGRESS_INTERVAL: '2m' }, overrides: { progressInterval: 0 } });
    expect(both.progressInterval).toBe(0);
    await expect(loadConfig({ env: { WEBSCALE_PROGRESS_INTERVAL: 'often' } })).rejects.toThrow(/progressInterval: expected milliseconds or a duration/);
  });

  it('names every bad path in one error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-config-'));
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ concurrency: 0, llm: { timeout: 'soon', stages: { judge: {} } }, pipeline: { oversize: 'explode' } }));
    const err = await loadConfig({ file, env: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    const message = (err as Error).message;
    for (const path of ['concurrency', 'llm.timeout', 'llm.stages', 'pipeline.oversize']) expect(message).toContain(path);
  });

  it('rejects a missing or malformed file clearly', async () => {
    await expect(loadConfig({ file: '/nope.yaml', env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-config-'));
    await writeFile(join(dir, 'x.yaml'), '- a\n- b\n');
    await expect(loadConfig({ file: join(dir, 'x.yaml'), env: {} })).rejects.toThrow(/mapping/);
  });
});
