/**
 * The OAUTHBEARER token provider kafkajs calls on every (re)authentication: the token comes from
 * a command (`kafka.sasl.oauthbearer.tokenCommand`, e.g. a cloud CLI printing an access token) or
 * a file (`tokenFile`, e.g. a Kubernetes projected service-account token the kubelet rotates).
 *
 * kafkajs leaves caching to the provider, and a stage worker opens many connections (one
 * producer per owned partition), so the token is cached and shared: fetched again once 80% of
 * its lifetime has passed (Kafka's Java client refreshes at the same point), and never later than
 * 30 s before it expires. Its lifetime is `expires_in` of a JSON answer, else the `exp` claim of
 * a JWT; a token whose expiry cannot be read is fetched again after a minute. Concurrent callers
 * share one fetch. Tokens are registered with the redactor, so they never reach a log line.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { OauthbearerProviderResponse } from 'kafkajs';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import { redactString, registerSecret } from '../core/redact.js';

export interface OAuthToken {
  value: string;
  /** Epoch ms, when known. */
  expiresAt?: number;
}

const UNKNOWN_EXPIRY_REUSE_MS = 60_000;
const REFRESH_SHARE = 0.8;
const EXPIRY_MARGIN_MS = 30_000;
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** The `exp` claim (epoch ms) of a JWT, or undefined when the token is not a JWT or has none. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A token from what a command printed or a file holds: the bare token, or a JSON object with
 * `access_token` (or `token`) and optionally `expires_in` (seconds from now).
 */
export function parseTokenText(text: string, source: string, now: number = Date.now()): OAuthToken {
  const trimmed = text.trim();
  let value = trimmed;
  let expiresAt: number | undefined;
  if (trimmed.startsWith('{')) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(trimmed) as Record<string, unknown>;
    } catch {
      throw new WebscaleError('KAFKA_AUTH', `OAUTHBEARER: ${source} printed something that starts like JSON but does not parse`);
    }
    const token = json['access_token'] ?? json['token'];
    if (typeof token !== 'string' || token.length === 0) {
      throw new WebscaleError('KAFKA_AUTH', `OAUTHBEARER: the JSON from ${source} has no "access_token" (or "token") string`);
    }
    value = token;
    const expiresIn = json['expires_in'];
    if (typeof expiresIn === 'number' && expiresIn > 0) expiresAt = now + expiresIn * 1000;
  }
  if (value.length === 0) throw new WebscaleError('KAFKA_AUTH', `OAUTHBEARER: ${source} gave an empty token`);
  if (/\s/.test(value)) throw new WebscaleError('KAFKA_AUTH', `OAUTHBEARER: the token from ${source} contains white space (expected one token, or JSON with "access_token")`);
  expiresAt ??= jwtExpiry(value);
  return expiresAt === undefined ? { value } : { value, expiresAt };
}

/** When a token fetched at `fetchedAt` should be replaced. */
export function refreshAt(token: OAuthToken, fetchedAt: number): number {
  if (token.expiresAt === undefined) return fetchedAt + UNKNOWN_EXPIRY_REUSE_MS;
  const lifetime = Math.max(0, token.expiresAt - fetchedAt);
  return Math.min(fetchedAt + lifetime * REFRESH_SHARE, token.expiresAt - EXPIRY_MARGIN_MS);
}

/** Caches a token source's answer and fetches again when the token nears its expiry. */
export class TokenCache {
  private current: { token: OAuthToken; refreshAt: number } | undefined;
  private inFlight: Promise<OAuthToken> | undefined;

  constructor(
    private readonly fetchToken: () => Promise<OAuthToken>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<string> {
    if (this.current && this.now() < this.current.refreshAt) return this.current.token.value;
    this.inFlight ??= (async () => {
      const fetchedAt = this.now();
      try {
        const token = await this.fetchToken();
        if (token.expiresAt !== undefined && token.expiresAt <= fetchedAt) {
          throw new WebscaleError('KAFKA_AUTH', `OAUTHBEARER: the token is already expired (at ${new Date(token.expiresAt).toISOString()})`);
        }
        registerSecret(token.value);
        this.current = { token, refreshAt: refreshAt(token, fetchedAt) };
        return token;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return (await this.inFlight).value;
  }
}

function firstLine(text: string): string {
  return redactString(text.trim().split('\n')[0] ?? '').slice(0, 300);
}

function runTokenCommand(command: string, timeoutMs: number): Promise<OAuthToken> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        const why = e.killed ? `did not finish within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}` : `failed (exit ${String(e.code ?? '?')})${stderr.trim() ? `: ${firstLine(stderr)}` : ''}`;
        reject(new WebscaleError('KAFKA_AUTH', `OAUTHBEARER token command ${why}; check kafka.sasl.oauthbearer.tokenCommand (KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND)`, { cause: err }));
        return;
      }
      try {
        resolve(parseTokenText(stdout, 'the token command'));
      } catch (parseErr) {
        reject(parseErr as Error);
      }
    });
  });
}

async function readTokenFile(path: string): Promise<OAuthToken> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new WebscaleError('KAFKA_AUTH', `OAUTHBEARER: cannot read the token file ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); check kafka.sasl.oauthbearer.tokenFile (KAFKA_SASL_OAUTHBEARER_TOKEN_FILE)`, { cause: err });
  }
  return parseTokenText(text, `the token file ${path}`);
}

/** kafkajs' `oauthBearerProvider` for these settings. */
export function oauthBearerProvider(settings: Config['kafka']['sasl']['oauthbearer']): () => Promise<OauthbearerProviderResponse> {
  const { tokenCommand, tokenFile, commandTimeout } = settings;
  const cache = new TokenCache(() => (tokenCommand !== undefined ? runTokenCommand(tokenCommand, commandTimeout) : readTokenFile(tokenFile ?? '')));
  return async () => ({ value: await cache.get() });
}
