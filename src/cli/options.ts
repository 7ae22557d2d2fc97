/**
 * Flags shared by several commands, and their conversion into config overrides. Environment
 * variables are read by `loadConfig`; flags win over them.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseSecondsOrDuration, splitList, type ConfigOverrides } from '../config/load.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

export function addLlmOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (YAML or JSON); env WEBSCALE_CONFIG')
    .option('--concurrency <n>', 'max LLM calls in flight in this process (default 32)', positiveInt)
    .option('--llm <backend>', 'LLM backend: auto | openai | hf | local')
    .option('--llm-url <url>', 'OpenAI-compatible base URL ending in /v1, or a TGI endpoint; env WEBSCALE_LLM_URL')
    .option('--llm-model <name>', 'model name or Hugging Face model id; env WEBSCALE_LLM_MODEL')
    .option('--model-path <gguf>', 'GGUF file for the local backend; env WEBSCALE_MODEL_PATH')
    .option('--fewshot-dir <dir>', 'few-shot library: *.jsonl in the reference format {original_material, question, answer, domain, persona}')
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent')
    .option('--budget-usd <usd>', 'stop intake once LLM spend reaches this many US dollars (prices from llm.prices); config budget.usd', positiveNumber)
    .option('--budget-tokens <n>', 'stop intake once LLM tokens (prompt + completion) reach this; config budget.tokens', positiveInt);
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** `run`, `stage` and `ingest`: how often a progress line is written where no terminal shows one. */
export function addProgressOption(cmd: Command): Command {
  return cmd.option(
    '--progress-interval <seconds>',
    'write a progress line this often when stderr is not a terminal (run) or always (stage, ingest --from-topic/--follow): seconds or a duration such as 500ms or 2m; 0 = never (default 10; config progressInterval; env WEBSCALE_PROGRESS_INTERVAL)',
  );
}

export function addKafkaOptions(cmd: Command): Command {
  return cmd
    .option('--brokers <list>', 'Kafka bootstrap brokers, comma-separated; env KAFKA_BROKERS (default 127.0.0.1:19092)')
    .option('--topic-prefix <prefix>', 'topic and consumer-group prefix; env WEBSCALE_TOPIC_PREFIX (default "webscale-rl.")');
}

/** Which fields of JSON lines and parquet rows hold the text, id and url (`run`, `ingest`). */
export function addInputOptions(cmd: Command): Command {
  return cmd
    .option('--text-field <name>', 'field of JSON lines / parquet rows holding the text (default "text"; config input.textField)')
    .option('--id-field <name>', 'field holding the document id (default "id"; config input.idField)')
    .option('--url-field <name>', 'field holding the source URL (default "url"; config input.urlField)');
}

export interface CommonFlags {
  config?: string;
  concurrency?: number;
  llm?: string;
  llmUrl?: string;
  llmModel?: string;
  modelPath?: string;
  fewshotDir?: string;
  logLevel?: string;
  brokers?: string;
  topicPrefix?: string;
  textField?: string;
  idField?: string;
  urlField?: string;
  budgetUsd?: number;
  budgetTokens?: number;
  progressInterval?: string;
}

export function overridesFrom(flags: CommonFlags): ConfigOverrides {
  const o: ConfigOverrides = {};
  if (flags.concurrency !== undefined) o.concurrency = flags.concurrency;
  if (flags.llm !== undefined) o.llmBackend = flags.llm;
  if (flags.llmUrl !== undefined) o.llmUrl = flags.llmUrl;
  if (flags.llmModel !== undefined) o.llmModel = flags.llmModel;
  if (flags.modelPath !== undefined) o.modelPath = flags.modelPath;
  if (flags.fewshotDir !== undefined) o.fewshotDir = flags.fewshotDir;
  if (flags.logLevel !== undefined) o.logLevel = flags.logLevel;
  if (flags.brokers !== undefined) o.brokers = splitList(flags.brokers);
  if (flags.topicPrefix !== undefined) o.topicPrefix = flags.topicPrefix;
  if (flags.textField !== undefined) o.textField = flags.textField;
  if (flags.idField !== undefined) o.idField = flags.idField;
  if (flags.urlField !== undefined) o.urlField = flags.urlField;
  if (flags.budgetUsd !== undefined) o.budgetUsd = flags.budgetUsd;
  if (flags.budgetTokens !== undefined) o.budgetTokens = flags.budgetTokens;
  if (flags.progressInterval !== undefined) o.progressInterval = parseSecondsOrDuration(flags.progressInterval);
  return o;
}
