import { describe, expect, it } from 'vitest';
import { WebscaleError } from '../../src/core/errors.js';
import { captureLogger as captured } from '../support/capture-logger.js';

describe('logger redaction', () => {
  it('redacts a secret nested 5 levels deep in a logged object, in child bindings and in the message', () => {
    const log = captured();
    const config = { llm: { token: 'hf_rootsecret' }, kafka: { nested: { deeper: { deepest: { five: { password: 'pw-5-deep', fine: 'kept' } } } } } };
    log.logger.child({ stage: 'check', auth: { headers: { authorization: 'Bearer sk-child-secret' } } }).info(
      { config, usage: { prompt_tokens: 12, tokens: 3 } },
      'registry at https://svc:pw-in-msg@registry.example:8081 ready',
    );
    const text = log.text();
    for (const secret of ['hf_rootsecret', 'pw-5-deep', 'sk-child-secret', 'pw-in-msg']) expect(text).not.toContain(secret);
    const [line] = log.lines();
    expect(line).toMatchObject({
      config: { llm: { token: '[redacted]' }, kafka: { nested: { deeper: { deepest: { five: { password: '[redacted]', fine: 'kept' } } } } } },
      auth: { headers: { authorization: '[redacted]' } },
      usage: { prompt_tokens: 12, tokens: 3 },
      stage: 'check',
    });
    expect(line?.['msg']).toBe('registry at https://[redacted]@registry.example:8081 ready');
  });

  it("logs an error's context and whole cause chain, redacted, whether passed as { err } or alone", () => {
    const log = captured();
    const root = new WebscaleError('LLM_AUTH', 'refused', { context: { request: { headers: { 'x-api-key': 'sk-root-cause' } } } });
    const middle = new WebscaleError('LLM_SERVER', 'bad gateway', { cause: root, context: { url: 'https://u:pw-middle@llm.example/v1' } });
    const top = new WebscaleError('INTERNAL', 'stage failed', { cause: middle, context: { a: { b: { c: { d: { apiKey: 'sk-ctx-5-deep' } } } } } });
    log.logger.error({ err: top }, 'stage failed on a record');
    log.logger.warn(top);
    const text = log.text();
    for (const secret of ['sk-root-cause', 'pw-middle', 'sk-ctx-5-deep']) expect(text).not.toContain(secret);
    const [first, second] = log.lines();
    for (const line of [first, second]) {
      expect(line).toMatchObject({
        err: {
          code: 'INTERNAL',
          context: { a: { b: { c: { d: { apiKey: '[redacted]' } } } } },
          cause: {
            code: 'LLM_SERVER',
            context: { url: 'https://[redacted]@llm.example/v1' },
            cause: { code: 'LLM_AUTH', context: { request: { headers: { 'x-api-key': '[redacted]' } } } },
          },
        },
      });
    }
    expect(second?.['msg']).toBe('stage failed');
  });
});
