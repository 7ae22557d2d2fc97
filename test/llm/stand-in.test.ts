import { describe, expect, it } from 'vitest';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { acquireAgent } from '../../src/llm/http.js';
import { OpenAiClient } from '../../src/llm/openai.js';
import { detectStage, pickAnswer, startStandInLlm } from '../support/stand-in-llm.js';

describe('stand-in LLM server', () => {
  it('serves hundreds of concurrent requests with its latency, not one after another', async () => {
    const server = await startStandInLlm({ latencyMs: 200 });
    const lease = acquireAgent(256);
    try {
      const client = new OpenAiClient({
        url: server.url,
        timeoutMs: 10_000,
        retry: { maxRetries: 0, backoffInitial: 1, backoffMax: 1 },
        responseFormat: 'openai',
        dispatcher: lease.dispatcher,
      });
      const started = performance.now();
      const out = await Promise.all(
        Array.from({ length: 256 }, (_, i) =>
          client.complete({
            stage: 'generate',
            messages: [{ role: 'user', content: `<document>\nDocument number ${i} about telescopes and telescopes.\n</document>` }],
            jsonSchema: OUTPUT_JSON_SCHEMAS.generate,
            temperature: 1,
            maxTokens: 64,
          }),
        ),
      );
      const wall = performance.now() - started;
      expect(out.every((o) => JSON.parse(o.text).answer === 'telescopes')).toBe(true);
      expect(server.stats().maxInFlight).toBeGreaterThan(128);
      expect(wall).toBeLessThan(3000);
    } finally {
      await lease.release();
      await server.close();
    }
  });

  it('tells stages apart by schema name, TGI schema properties or system prompt', () => {
    const msg = (system: string) => ({ messages: [{ role: 'system', content: system }, { role: 'user', content: 'doc' }] });
    expect(detectStage({ ...msg(''), response_format: { type: 'json_schema', json_schema: OUTPUT_JSON_SCHEMAS.check } })).toBe('check');
    expect(detectStage({ ...msg(''), response_format: { type: 'json', value: OUTPUT_JSON_SCHEMAS.identify.schema } })).toBe('identify');
    expect(detectStage(msg('Reply with {"reasoning": "...", "qualified": true}'))).toBe('filter');
    expect(detectStage(msg('Reply with {"question": "...", "answer": "..."}'))).toBe('generate');
    expect(detectStage(msg('Say hello'))).toBeUndefined();
  });

  it('picks the most frequent longish word as the answer, ignoring markers', () => {
    expect(pickAnswer('The Danube flows east. The Danube is long. [[domain:Travel]]')).toBe('Danube');
    expect(pickAnswer('a b c')).toBe('a');
  });
});
