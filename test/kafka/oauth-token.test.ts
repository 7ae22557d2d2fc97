// The OAUTHBEARER token provider: what a command or file may give (a bare token, a JWT whose exp
// sets the lifetime, JSON with access_token and expires_in), caching until 80% of the lifetime
// (and at least 30 s before expiry), one shared fetch for concurrent callers, and one-line errors
// for a failing, hanging or silent command. Commands are real /bin/sh processes.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenCache, jwtExpiry, oauthBearerProvider, parseTokenText, refreshAt, type OAuthToken } from '../../src/kafka/oauth-token.js';
import { redactString } from '../../src/core/redact.js';

const jwt = (claims: object): string => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;

describe('token text', () => {
  it('reads a bare token, a JWT with exp, and JSON with access_token/token and expires_in', () => {
    expect(parseTokenText('opaque-token-123\n', 'x')).toEqual({ value: 'opaque-token-123' });
    const token = jwt({ sub: 'svc', exp: 2_000_000_000 });
    expect(jwtExpiry(token)).toBe(2_000_000_000_000);
    expect(parseTokenText(token, 'x')).toEqual({ value: token, expiresAt: 2_000_000_000_000 });
    expect(parseTokenText('{"access_token": "abc.def", "expires_in": 600}', 'x', 1000)).toEqual({ value: 'abc.def', expiresAt: 601_000 });
    expect(parseTokenText('{"token": "t0ken"}', 'x')).toEqual({ value: 't0ken' });
  });

  it('refuses what is not one token', () => {
    expect(() => parseTokenText('', 'the token command')).toThrow(/the token command gave an empty token/);
    expect(() => parseTokenText('two words', 'the token file /t')).toThrow(/contains white space/);
    expect(() => parseTokenText('{"expires_in": 5}', 'x')).toThrow(/no "access_token"/);
    expect(() => parseTokenText('{not json', 'x')).toThrow(/does not parse/);
  });

  it('refreshes at 80% of the lifetime, never later than 30 s before expiry, after a minute when unknown', () => {
    expect(refreshAt({ value: 't', expiresAt: 3_600_000 }, 0)).toBe(2_880_000);
    expect(refreshAt({ value: 't', expiresAt: 100_000 }, 0)).toBe(70_000);
    expect(refreshAt({ value: 't' }, 5000)).toBe(65_000);
  });
});

describe('TokenCache', () => {
  it('serves the cached token until its refresh time, then fetches again', async () => {
    let now = 0;
    let fetches = 0;
    const cache = new TokenCache(() => Promise.resolve<OAuthToken>({ value: `token-number-${++fetches}`, expiresAt: now + 1_000_000 }), () => now);
    expect(await cache.get()).toBe('token-number-1');
    now = 799_999;
    expect(await cache.get()).toBe('token-number-1');
    now = 800_000;
    expect(await cache.get()).toBe('token-number-2');
    // A fetched token is a secret from then on.
    expect(redactString('sent token-number-2')).toBe('sent [redacted]');
  });

  it('shares one fetch among concurrent callers, and retries after a failed one', async () => {
    let fetches = 0;
    let fail = true;
    const cache = new TokenCache(async () => {
      fetches++;
      await new Promise((r) => setTimeout(r, 20));
      if (fail) throw new Error('issuer down');
      return { value: 'shared-token' };
    });
    await expect(Promise.all([cache.get(), cache.get(), cache.get()])).rejects.toThrow('issuer down');
    expect(fetches).toBe(1);
    fail = false;
    expect(await Promise.all([cache.get(), cache.get()])).toEqual(['shared-token', 'shared-token']);
    expect(fetches).toBe(2);
  });

  it('refuses a token that is already expired', async () => {
    const cache = new TokenCache(() => Promise.resolve({ value: 'stale', expiresAt: 10 }), () => 1000);
    await expect(cache.get()).rejects.toThrow(/already expired/);
  });
});

describe('oauthBearerProvider', () => {
  it('runs the command through /bin/sh and reads the file again on refresh', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-oauth-'));
    const fromCommand = oauthBearerProvider({ tokenCommand: `printf '%s' "$(echo command-token)"`, commandTimeout: 5000 });
    expect(await fromCommand()).toEqual({ value: 'command-token' });
    const file = join(dir, 'token');
    await writeFile(file, 'file-token\n');
    expect(await oauthBearerProvider({ tokenFile: file, commandTimeout: 5000 })()).toEqual({ value: 'file-token' });
  });

  it('says in one line why a command gave no token', async () => {
    await expect(oauthBearerProvider({ tokenCommand: 'echo "role not found" >&2; exit 4', commandTimeout: 5000 })()).rejects.toThrow(
      /^OAUTHBEARER token command failed \(exit 4\): role not found; check kafka\.sasl\.oauthbearer\.tokenCommand \(KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND\)$/,
    );
    await expect(oauthBearerProvider({ tokenCommand: 'sleep 5', commandTimeout: 200 })()).rejects.toThrow(/token command did not finish within 200 ms/);
    await expect(oauthBearerProvider({ tokenCommand: 'true', commandTimeout: 5000 })()).rejects.toThrow(/the token command gave an empty token/);
    await expect(oauthBearerProvider({ tokenFile: '/nonexistent/token', commandTimeout: 5000 })()).rejects.toThrow(/cannot read the token file \/nonexistent\/token \(ENOENT\)/);
  });
});
