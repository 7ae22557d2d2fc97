/**
 * The start-up probe: can each stage's LLM serve a real request? A misconfigured LLM (no model
 * file, no URL, a wrong key, a URL that answers 404/405/501, a model name the server does not
 * know, nothing listening) must stop a run or keep a worker unready before any record is read,
 * instead of turning every record into `llm.failed` or a dead letter.
 *
 * For each distinct (client, schema) of the given stages the probe first checks that the server is
 * there (the client's own `probe`: GET `/models` for HTTP backends, loading the model for the
 * local one), then sends one small real request with that stage's output schema, temperature and
 * seed, the same shape its real requests have, with a tiny prompt and a small token cap. Only
 * answers that would fail every real request fail the probe; an answer that does not parse (small
 * models stray), a 429, a 5xx or a slow reply do not: those are what retries and outage handling
 * are for.
 *
 * `ENDPOINT_FAULT_CODES` is the same judgement for failures in the middle of a run: the endpoint
 * cannot serve anyone right now, so a worker pauses instead of dead-lettering the record.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError, type ErrorCode } from '../core/errors.js';
import { LLM_STAGES, type LlmStage } from '../core/records.js';
import { OUTPUT_JSON_SCHEMAS, withReasoningLast } from './contract.js';
import { localModelCandidate } from './local-model-path.js';
import { backoffDelay, safeUrl, sleep, type RetryPolicy } from './retry.js';
import { resolveStageSettings, type StageSettings } from './router.js';
import type { JsonSchemaSpec, LlmClient, LlmRequest, LlmRouter } from './types.js';

/**
 * Codes that mean "this endpoint cannot serve anyone right now, not this record's fault": a worker
 * that meets one mid-run pauses consumption (as for an outage) and never dead-letters the record.
 * Retryable failures (429, 5xx, timeouts, resets) are not here: the retry loop and the outage
 * detector already deal with them.
 */
export const ENDPOINT_FAULT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['LLM_AUTH', 'LLM_UNAVAILABLE', 'LLM_QUOTA', 'LLM_UNREACHABLE']);

export function isEndpointFault(err: unknown): boolean {
  return err instanceof WebscaleError && ENDPOINT_FAULT_CODES.has(err.code);
}

/**
 * What fails the real probe request, besides the endpoint faults: no usable LLM configured, and a
 * request the server refuses (400/422) although it is tiny, since every real request of the stage
 * carries the same schema and settings and would be refused the same way.
 */
const PROBE_FATAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([...ENDPOINT_FAULT_CODES, 'CONFIG_INVALID', 'LLM_CLIENT']);

/** Marks probe requests in prompts (and lets the test stand-in tell them from pipeline calls). */
export const PROBE_MARKER = 'webscale-rl start-up probe';

/** Enough tokens for the server to start an answer; the answer itself is not used. */
const PROBE_MAX_TOKENS = 16;

/** Retries of a probe request, on network failures only. */
const PROBE_NETWORK_RETRIES = 2;

const DEFAULT_BACKOFF: RetryPolicy = { maxRetries: PROBE_NETWORK_RETRIES, backoffInitial: 500, backoffMax: 5000 };

export interface ProbeOptions {
  signal?: AbortSignal;
  /**
   * The run's config: gives each stage's schema (`pipeline.reasoningLast`), temperature, URL and
   * model for the messages. Without it the probe uses the default schemas and what the clients say.
   */
  config?: Config;
  /** Probe outcomes that do not fail it (a 503, an unparseable answer) are logged here at warn. */
  logger?: Logger;
}

/** A client that can check that its server is there (GET /models) or its model loads. */
type Probeable = LlmClient & { probe?: (signal?: AbortSignal) => Promise<void> };

interface Target {
  stage: LlmStage;
  settings: StageSettings | undefined;
}

/** The output schema a stage's real requests carry. */
function schemaFor(stage: LlmStage, config: Config | undefined): JsonSchemaSpec {
  const spec = OUTPUT_JSON_SCHEMAS[stage];
  return stage === 'generate' && config?.pipeline.reasoningLast === true ? withReasoningLast(spec) : spec;
}

/** "openai http://h:8000/v1, model qwen" / "local model /models/x.gguf", for messages. */
function describe(client: LlmClient | undefined, target: Target, config: Config | undefined): string {
  const s = target.settings;
  const backend = s?.backend ?? client?.backend ?? 'llm';
  if (backend === 'local') {
    const path = config === undefined ? undefined : localModelCandidate(config.llm.local.modelPath).path;
    return path === undefined ? 'local model' : `local model ${path}`;
  }
  const known = client as { url?: unknown; target?: unknown } | undefined;
  const rawUrl = s?.url ?? (typeof known?.url === 'string' ? known.url : typeof known?.target === 'string' ? known.target : undefined);
  const url = rawUrl === undefined ? (backend === 'hf' ? 'Hugging Face Inference Providers' : 'no URL') : safeUrl(rawUrl);
  const model = s?.model ?? client?.model;
  return `${backend} ${url}, model ${model ?? '(none)'}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function probeFailure(err: WebscaleError, stages: LlmStage[], where: string): WebscaleError {
  const code: ErrorCode = err.code === 'LLM_NETWORK' ? 'LLM_UNREACHABLE' : err.code;
  const why = err.code === 'LLM_CLIENT' ? `${err.message} (every request of this stage would be refused the same way)` : err.message;
  const which = `${stages.length === 1 ? 'stage' : 'stages'} ${stages.join(', ')}`;
  return new WebscaleError(code, oneLine(`LLM for ${which} cannot serve (${where}): ${why}`), {
    cause: err,
    context: { ...err.context, stage: stages[0], stages, target: where },
  });
}

/** One real request; network failures retried twice. Resolves to the failure, if any. */
async function probeRequest(client: LlmClient, request: LlmRequest, backoff: RetryPolicy, signal: AbortSignal | undefined): Promise<WebscaleError | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.complete(request);
      return undefined;
    } catch (thrown) {
      const err = WebscaleError.from(thrown);
      if (err.code === 'LLM_ABORTED') throw err;
      if (err.code !== 'LLM_NETWORK' || attempt >= PROBE_NETWORK_RETRIES) return err;
      await sleep(backoffDelay(attempt, backoff), signal);
    }
  }
}

/**
 * Probe the LLM of each of `stages`. Resolves when every one can serve; throws the first failure
 * (in stage order) as a `WebscaleError` whose one-line message names the stage, the endpoint (no
 * credentials) and the model, with the failure's own code: CONFIG_INVALID (no URL or model
 * configured, no model file), LLM_AUTH, LLM_QUOTA, LLM_UNAVAILABLE (404/405/501, unknown model),
 * LLM_UNREACHABLE (nothing answers), LLM_CLIENT (the server refuses the stage's request shape),
 * LLM_ABORTED (the signal fired). Pass the router from `createLlmRouter` (not a wrapped one) so
 * the clients' reachability checks are there.
 */
export async function probeStages(router: LlmRouter, stages: readonly LlmStage[], opts: ProbeOptions = {}): Promise<void> {
  const { config, signal, logger } = opts;
  const backoff: RetryPolicy =
    config === undefined ? DEFAULT_BACKOFF : { maxRetries: PROBE_NETWORK_RETRIES, backoffInitial: config.llm.backoffInitial, backoffMax: config.llm.backoffMax };
  const ordered = LLM_STAGES.filter((s) => stages.includes(s));
  const failures = new Map<LlmStage, WebscaleError>();

  // Group stages by client, then by schema: one reachability check per client, one request per schema.
  const groups = new Map<LlmClient, Map<string, Target[]>>();
  for (const stage of ordered) {
    const target: Target = { stage, settings: config === undefined ? undefined : resolveStageSettings(config, stage) };
    let client: LlmClient;
    try {
      client = router.forStage(stage);
    } catch (thrown) {
      failures.set(stage, probeFailure(WebscaleError.from(thrown, 'CONFIG_INVALID'), [stage], describe(undefined, target, config)));
      continue;
    }
    let bySchema = groups.get(client);
    if (bySchema === undefined) groups.set(client, (bySchema = new Map()));
    const spec = schemaFor(stage, config);
    const key = `${spec.name}\u0000${JSON.stringify(spec.schema)}`;
    bySchema.set(key, [...(bySchema.get(key) ?? []), target]);
  }

  await Promise.all(
    [...groups.entries()].map(async ([client, bySchema]) => {
      const targets = [...bySchema.values()];
      const first = targets[0]?.[0];
      if (first === undefined) return;
      const allStages = targets.flat().map((t) => t.stage);
      const reachable = (client as Probeable).probe;
      if (typeof reachable === 'function') {
        try {
          await reachable.call(client, signal);
        } catch (thrown) {
          const err = WebscaleError.from(thrown, 'CONFIG_INVALID');
          if (err.code === 'LLM_ABORTED') throw err;
          failures.set(first.stage, probeFailure(err, allStages, describe(client, first, config)));
          return;
        }
      }
      for (const group of targets) {
        const lead = group[0];
        if (lead === undefined) continue;
        const request: LlmRequest = {
          stage: lead.stage,
          messages: [
            { role: 'system', content: 'Answer with one JSON object that matches the response schema. Keep every string to a few words.' },
            { role: 'user', content: `This is a ${PROBE_MARKER}. Reply with any valid JSON object for the schema.` },
          ],
          jsonSchema: schemaFor(lead.stage, config),
          temperature: lead.settings?.temperature ?? 0,
          maxTokens: Math.min(PROBE_MAX_TOKENS, lead.settings?.maxTokens ?? PROBE_MAX_TOKENS),
          seed: 0,
          probe: true,
          ...(signal === undefined ? {} : { signal }),
        };
        const err = await probeRequest(client, request, backoff, signal);
        if (err === undefined) continue;
        const groupStages = group.map((t) => t.stage);
        if (err.code === 'LLM_NETWORK' || PROBE_FATAL_CODES.has(err.code)) {
          failures.set(lead.stage, probeFailure(err, groupStages, describe(client, lead, config)));
          return;
        }
        logger?.warn(
          { stages: groupStages, code: err.code, err, target: describe(client, lead, config) },
          'LLM probe request failed in a way retries may cure; starting anyway',
        );
      }
    }),
  );

  for (const stage of ordered) {
    const failure = failures.get(stage);
    if (failure !== undefined) throw failure;
  }
}
