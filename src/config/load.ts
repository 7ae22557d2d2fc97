/**
 * Builds the compiled `Config` from its sources, in rising precedence: defaults, the config file
 * (YAML or JSON, `--config` or WEBSCALE_CONFIG), environment variables, command-line flags.
 * Any problem is one `CONFIG_INVALID` error that names every bad path, so a user fixes all of
 * them in one go.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { WebscaleError } from '../core/errors.js';
import { registerSecret } from '../core/redact.js';
import { kafkaSecurityEnv } from './kafka-security.js';
import { configSchema, type Config } from './schema.js';

/** Settings that flags or the environment can override, in config-file shape. */
export interface ConfigOverrides {
  concurrency?: number;
  llmUrl?: string;
  llmModel?: string;
  llmBackend?: string;
  modelPath?: string;
  fewshotDir?: string;
  brokers?: string[];
  topicPrefix?: string;
  logLevel?: string;
  textField?: string;
  idField?: string;
  urlField?: string;
  budgetUsd?: number;
  budgetTokens?: number;
  /** Milliseconds, or a duration string for the schema to check. */
  progressInterval?: number | string;
}

type Env = Record<string, string | undefined>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Deep merge for plain objects; arrays and scalars from `over` replace those in `base`. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const existing = out[key];
    out[key] = isPlainObject(existing) && isPlainObject(value) ? merge(existing, value) : value;
  }
  return out;
}

export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new WebscaleError('CONFIG_INVALID', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON, so one parser reads both
  } catch (err) {
    throw new WebscaleError('CONFIG_INVALID', `config file ${path} is not valid YAML/JSON: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) throw new WebscaleError('CONFIG_INVALID', `config file ${path} must hold a mapping at the top level`);
  return parsed;
}

function envLayer(env: Env): Record<string, unknown> {
  const llm: Record<string, unknown> = {};
  if (env['WEBSCALE_LLM_URL']) llm['url'] = env['WEBSCALE_LLM_URL'];
  if (env['WEBSCALE_LLM_MODEL']) llm['model'] = env['WEBSCALE_LLM_MODEL'];
  if (env['HF_TOKEN']) llm['token'] = env['HF_TOKEN'];
  if (env['OPENAI_API_KEY']) llm['apiKey'] = env['OPENAI_API_KEY'];
  if (env['WEBSCALE_MODEL_PATH']) llm['local'] = { modelPath: env['WEBSCALE_MODEL_PATH'] };
  const kafka: Record<string, unknown> = {};
  if (env['KAFKA_BROKERS']) kafka['brokers'] = splitList(env['KAFKA_BROKERS']);
  if (env['WEBSCALE_TOPIC_PREFIX'] !== undefined) kafka['topicPrefix'] = env['WEBSCALE_TOPIC_PREFIX'];
  if (env['WEBSCALE_SCHEMA_REGISTRY_URL']) kafka['schemaRegistryUrl'] = env['WEBSCALE_SCHEMA_REGISTRY_URL'];
  const registry: Record<string, unknown> = {};
  for (const [name, key] of [
    ['WEBSCALE_SCHEMA_REGISTRY_USERNAME', 'username'],
    ['WEBSCALE_SCHEMA_REGISTRY_PASSWORD', 'password'],
    ['WEBSCALE_SCHEMA_REGISTRY_TOKEN', 'bearerToken'],
    ['WEBSCALE_SCHEMA_REGISTRY_TOKEN_FILE', 'bearerTokenFile'],
    ['WEBSCALE_SCHEMA_REGISTRY_CA', 'ca'],
    ['WEBSCALE_SCHEMA_REGISTRY_CERT', 'cert'],
    ['WEBSCALE_SCHEMA_REGISTRY_KEY', 'key'],
  ] as const) {
    if (env[name]) registry[key] = env[name];
  }
  if (Object.keys(registry).length > 0) kafka['schemaRegistry'] = registry;
  if (env['WEBSCALE_SCHEMA_DIR']) kafka['schemaDir'] = env['WEBSCALE_SCHEMA_DIR'];
  Object.assign(kafka, kafkaSecurityEnv(env));
  const layer: Record<string, unknown> = { llm, kafka };
  if (env['WEBSCALE_LOG_LEVEL']) layer['logLevel'] = env['WEBSCALE_LOG_LEVEL'];
  if (env['WEBSCALE_PROGRESS_INTERVAL']) layer['progressInterval'] = parseSecondsOrDuration(env['WEBSCALE_PROGRESS_INTERVAL']);
  // A string the schema's boolean refuses is left as it is, so the config error names it.
  const dedup = env['WEBSCALE_DEDUP_ENABLED'];
  if (dedup !== undefined) layer['pipeline'] = { dedup: { enabled: z.stringbool().safeParse(dedup).data ?? dedup } };
  return layer;
}

function flagLayer(o: ConfigOverrides): Record<string, unknown> {
  const llm: Record<string, unknown> = { url: o.llmUrl, model: o.llmModel, backend: o.llmBackend };
  if (o.modelPath !== undefined) llm['local'] = { modelPath: o.modelPath };
  return {
    concurrency: o.concurrency,
    logLevel: o.logLevel,
    progressInterval: o.progressInterval,
    llm,
    pipeline: { fewshotDir: o.fewshotDir },
    kafka: { brokers: o.brokers, topicPrefix: o.topicPrefix },
    input: { textField: o.textField, idField: o.idField, urlField: o.urlField },
    budget: { usd: o.budgetUsd, tokens: o.budgetTokens },
  };
}

/**
 * A duration from a flag or the environment: a bare number is seconds (`--progress-interval 30`),
 * anything else goes to the schema as written (`500ms`, `2m`), which names it when it is wrong.
 */
export function parseSecondsOrDuration(value: string): number | string {
  const trimmed = value.trim();
  return /^\d+(\.\d+)?$/.test(trimmed) ? Math.round(Number(trimmed) * 1000) : trimmed;
}

export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Validate a merged raw object; throws CONFIG_INVALID naming every bad path. */
export function compileConfig(raw: unknown, origin = 'configuration'): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new WebscaleError('CONFIG_INVALID', `invalid ${origin}: ${problems.join('; ')}`, { context: { problems } });
}

/**
 * Defaults for the local llama.cpp backend, laid under whatever the user set: the default local
 * model is tiny (135M parameters, 2K-4K context) and needs compact prompts (document cut to 1,200
 * characters in prompts, the plain prompt wording), short grammar-capped fields, and one call at
 * a time (llama.cpp on a CPU serialises anyway). Every value can still be overridden.
 *
 * Measured with SmolLM2 135M on the example documents (see the commit that set these): the LLM
 * filter's verdict was no better than chance (the full prompt rejected all 6 good documents), so
 * it is off and the heuristic pre-filter decides alone; the check stage's three verdicts still
 * guard every pair. Few-shot examples were copied into the questions, so there are none; a low
 * temperature and question-first output (reasoningLast) turned rambling into real questions;
 * maxStringChars 200 keeps every answer within maxAnswerChars.
 */
export const LOCAL_PROFILE: Record<string, unknown> = {
  concurrency: 1,
  llm: {
    temperature: 0.3,
    // Above what the capped fields can take (one token is at least one character), so the grammar,
    // not the token cap, ends every reply: a cut reply is an invalid output.
    maxTokens: 1024,
    maxReasks: 1,
    local: { contextSize: 2048, maxStringChars: 200 },
  },
  pipeline: {
    llmFilter: false,
    promptStyle: 'compact',
    reasoningLast: true,
    promptDocumentChars: 1200,
    fewshotMaxChars: 400,
    fewshotPerPrompt: 0,
    maxPersonas: 2,
  },
};

/** Whether the merged settings resolve to the local backend (the router's `auto` rule). */
function resolvesToLocal(raw: Record<string, unknown>): boolean {
  const llm = isPlainObject(raw['llm']) ? raw['llm'] : {};
  const backend = llm['backend'] ?? 'auto';
  if (backend === 'local') return true;
  if (backend !== 'auto') return false;
  if (llm['url'] !== undefined) return false;
  return !(llm['token'] !== undefined && llm['model'] !== undefined);
}

export async function loadConfig(options: { file?: string | undefined; overrides?: ConfigOverrides; env?: Env } = {}): Promise<Config> {
  const env = options.env ?? process.env;
  const file = options.file ?? env['WEBSCALE_CONFIG'];
  let raw: Record<string, unknown> = file ? await readConfigFile(file) : {};
  raw = merge(raw, envLayer(env));
  raw = merge(raw, flagLayer(options.overrides ?? {}));
  if (resolvesToLocal(raw)) raw = merge(LOCAL_PROFILE, raw);
  const config = compileConfig(raw, file ? `configuration (file ${file}, environment and flags)` : 'configuration (environment and flags)');
  registerConfigSecrets(config);
  return config;
}

/**
 * Hand the configured credentials to the redactor, so their values are cut out of any log line or
 * printed error, even where a server echoes them back: the token and keys, and the password in
 * the user-info of any configured URL (registry, LLM).
 */
export function registerConfigSecrets(config: Config): void {
  registerSecret(config.llm.token);
  registerSecret(config.llm.apiKey);
  registerSecret(config.kafka.sasl.password);
  registerSecret(config.kafka.ssl.keyPassword);
  for (const stage of Object.values(config.llm.stages)) registerSecret(stage?.apiKey);
  registerSecret(config.kafka.schemaRegistry.password);
  registerSecret(config.kafka.schemaRegistry.bearerToken);
  for (const url of [config.kafka.schemaRegistryUrl, config.llm.url, ...Object.values(config.llm.stages).map((s) => s?.url)]) {
    if (url === undefined) continue;
    try {
      const password = new URL(url).password;
      registerSecret(password);
      registerSecret(decodeURIComponent(password));
    } catch {
      // not a URL: the schema has already refused it
    }
  }
}

