/**
 * The response log's key: a SHA-256 over everything that decides a completion. Two requests with
 * the same key would get the same answer from a deterministic model (and, from a sampling one, an
 * answer just as good), so the second is answered from the log.
 *
 * What goes in: the client's identity (backend, model, and for the local model its file and the
 * settings that shape its grammar; see `clientIdentity`), the messages, the output schema, the
 * temperature, the completion cap and the seed. What stays out: the stage (its prompt and schema
 * are in the messages already), timeouts, retries, API keys and the server URL (the same model
 * behind another address answers the same). Objects are serialised with sorted keys, so a schema
 * built in another key order hashes the same.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import stringify from 'safe-stable-stringify';
import type { Config } from '../../config/schema.js';
import type { LlmStage } from '../../core/records.js';
import { localModelCandidate, localModelName } from '../local-model-path.js';
import { resolveStageSettings } from '../router.js';
import type { LlmRequest } from '../types.js';

/** Bump when the key's make-up changes: old entries then simply stop matching. */
export const KEY_VERSION = 1;

/** Who answers a stage's requests, as far as it decides the answer. */
export function clientIdentity(config: Config, stage: LlmStage): string {
  const s = resolveStageSettings(config, stage);
  const format = config.llm.jsonSchema ? config.llm.responseFormat : 'none';
  if (s.backend === 'local') {
    const path = localModelCandidate(config.llm.local.modelPath).path;
    let size = -1;
    try {
      size = statSync(path).size;
    } catch {
      // No file yet: the probe reports it; the identity just cannot name its size.
    }
    return `local|${localModelName(path)}|${size}|strings=${config.llm.local.maxStringChars}`;
  }
  // Without a model name the server picks its default, so the server is what identifies it.
  return `${s.backend}|${s.model ?? `default@${s.url ?? ''}`}|${format}`;
}

/** The material the key hashes: sorted-key JSON of the request's deciding parts (see above). */
export function keyMaterial(identity: string, request: LlmRequest): string {
  return (
    stringify({
      v: KEY_VERSION,
      client: identity,
      messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
      schema: request.jsonSchema,
      temperature: request.temperature,
      max_tokens: request.maxTokens,
      seed: request.seed ?? null,
    }) ?? ''
  );
}

/**
 * A stage passes the same schema object with every request, so its sorted-key form is made once.
 * (Serialising it, and the messages, through the generic sorted-key stringifier on every call
 * was the largest CPU cost of the response log in the Kafka bench.)
 */
const schemaText = new WeakMap<object, string>();

function sortedSchema(schema: LlmRequest['jsonSchema']): string {
  let text = schemaText.get(schema);
  if (text === undefined) {
    text = stringify(schema) ?? 'null';
    schemaText.set(schema, text);
  }
  return text;
}

/**
 * The hex key of one request made by a client of the given identity: SHA-256 over exactly the
 * text `keyMaterial` gives, written out by hand in sorted key order (a test holds the two equal)
 * and fed to the hash piece by piece, so no copy of the messages is built.
 */
export function responseKey(identity: string, request: LlmRequest): string {
  const h = createHash('sha256');
  h.update(`{"client":${JSON.stringify(identity)},"max_tokens":${JSON.stringify(request.maxTokens) ?? 'null'},"messages":[`);
  request.messages.forEach((m, i) => {
    h.update(`${i === 0 ? '' : ','}{"content":`);
    h.update(JSON.stringify(m.content));
    h.update(`,"role":${JSON.stringify(m.role)}}`);
  });
  h.update(`],"schema":${sortedSchema(request.jsonSchema)},"seed":${JSON.stringify(request.seed ?? null)},"temperature":${JSON.stringify(request.temperature) ?? 'null'},"v":${KEY_VERSION}}`);
  return h.digest('hex');
}
