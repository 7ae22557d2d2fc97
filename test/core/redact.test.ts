import { afterEach, describe, expect, it } from 'vitest';
import { WebscaleError } from '../../src/core/errors.js';
import { clearRegisteredSecrets, isSecretKey, redact, redactString, redactUrl, registerSecret } from '../../src/core/redact.js';

afterEach(() => clearRegisteredSecrets());

describe('isSecretKey', () => {
  it('names credentials, not counters', () => {
    for (const k of ['token', 'apiKey', 'api_key', 'API-KEY', 'x-api-key', 'hfToken', 'access_token', 'password', 'sasl_password', 'secret', 'clientSecret', 'authorization', 'Proxy-Authorization', 'cookie', 'set-cookie']) {
      expect(isSecretKey(k), k).toBe(true);
    }
    for (const k of ['tokens', 'prompt_tokens', 'completion_tokens', 'maxTokens', 'url', 'stage', 'model', 'by_stage', 'truncated_chars']) {
      expect(isSecretKey(k), k).toBe(false);
    }
  });
});

describe('redactString', () => {
  it('removes URL user-info, bearer credentials and HF tokens, and keeps the rest', () => {
    expect(redactString('GET https://bob:s3cr%40t@registry.example:8081/subjects failed')).toBe('GET https://[redacted]@registry.example:8081/subjects failed');
    expect(redactString('http://justatoken@host/x')).toBe('http://[redacted]@host/x');
    expect(redactString('authorization: Bearer sk-live-abcdef123456')).toBe('authorization: Bearer [redacted]');
    expect(redactString('token hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123 rejected')).toBe('token [redacted] rejected');
    expect(redactString('https://api.example/v1?api_key=abc123&model=m')).toBe('https://api.example/v1?api_key=[redacted]&model=m');
    expect(redactString('mail bob@example.com about 3 tokens')).toBe('mail bob@example.com about 3 tokens');
  });

  it('cuts registered secret values out of any string', () => {
    registerSecret('sk-proj-echoed-back');
    expect(redactString('Incorrect API key provided: sk-proj-echoed-back.')).toBe('Incorrect API key provided: [redacted].');
  });
});

describe('redactUrl', () => {
  it('drops user-info and redacts credential query parameters, keeping host, port and path', () => {
    expect(redactUrl('https://key:secret@psrc-123.confluent.cloud:443/subjects?x=1&token=t')).toBe('https://psrc-123.confluent.cloud/subjects?x=1&token=[redacted]');
    expect(redactUrl('http://127.0.0.1:8081')).toBe('http://127.0.0.1:8081/');
  });
});

describe('redact', () => {
  it('reaches a secret nested 5 levels deep, in objects and arrays, and leaves the input alone', () => {
    const input = { a: { b: { c: { d: { e: { token: 'hf_deep', note: 'see https://u:p@h/' } } } } }, list: [{ x: [{ apiKey: 'k' }] }], tokens: { total: 5 } };
    const out = redact(input) as typeof input;
    expect(out.a.b.c.d.e).toEqual({ token: '[redacted]', note: 'see https://[redacted]@h/' });
    expect(out.list[0]?.x[0]).toEqual({ apiKey: '[redacted]' });
    expect(out.tokens).toEqual({ total: 5 });
    expect(input.a.b.c.d.e.token).toBe('hf_deep');
  });

  it('survives cycles and redacts Maps', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a['self'] = a;
    a['m'] = new Map<string, unknown>([['password', 'pw'], ['ok', 1]]);
    expect(redact(a)).toEqual({ name: 'a', self: '[Circular]', m: { password: '[redacted]', ok: 1 } });
  });

  it('turns an error into its message, code, context and whole cause chain, redacted', () => {
    const root = new Error('connect ECONNREFUSED for https://user:hunter2@registry:8081');
    const middle = new WebscaleError('KAFKA', 'registry unreachable', { cause: root, retryable: true, context: { deep: { a: { b: { c: { authorization: 'Basic dXNlcjpodW50ZXIy' } } } } } });
    const top = new WebscaleError('CODEC', 'cannot encode', { cause: middle, context: { apiKey: 'sk-top' } });
    const out = redact(top);
    const text = JSON.stringify(out);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('dXNlcjpodW50ZXIy');
    expect(text).not.toContain('sk-top');
    expect(out).toMatchObject({
      type: 'WebscaleError',
      code: 'CODEC',
      message: 'cannot encode',
      context: { apiKey: '[redacted]' },
      cause: {
        code: 'KAFKA',
        retryable: true,
        context: { deep: { a: { b: { c: { authorization: '[redacted]' } } } } },
        cause: { type: 'Error', message: 'connect ECONNREFUSED for https://[redacted]@registry:8081' },
      },
    });
  });
});
