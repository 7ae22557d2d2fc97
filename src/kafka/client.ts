/**
 * The one place kafkajs clients are made, so every producer, consumer and admin of the pipeline
 * gets the same brokers, client id, timeouts, TLS and SASL settings (`security.ts`) and logging.
 * kafkajs logs go to the pino logger passed in (at the configured level) or nowhere: kafkajs' own
 * console logger would interleave JSON with our output.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import type { Kafka, KafkaConfig, LogEntry, Producer, ProducerConfig } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { installTransactionCoordinatorCache } from './coordinator-cache.js';
import { installRequestQueueFix } from './request-queue-fix.js';
import { kafkaIdentity, kafkaSecurityOptions, noteKafkaIdentity } from './security.js';

const { Kafka: KafkaClass, logLevel: KafkaLogLevel, Partitioners } = kafkajs;

export type LogLevelName = Config['logLevel'];

/** kafkajs level for our log level; kafkajs has no trace/fatal, so they fold into debug/error. */
export function kafkaLogLevel(level: LogLevelName): kafkajs.logLevel {
  switch (level) {
    case 'silent':
      return KafkaLogLevel.NOTHING;
    case 'fatal':
    case 'error':
      return KafkaLogLevel.ERROR;
    case 'warn':
      return KafkaLogLevel.WARN;
    case 'info':
      return KafkaLogLevel.INFO;
    case 'debug':
    case 'trace':
      return KafkaLogLevel.DEBUG;
  }
}

const require = createRequire(import.meta.url);
const { errorCodes } = require('kafkajs/src/protocol/error') as { errorCodes: { type: string; message: string; retriable: boolean }[] };

/**
 * Messages of the broker errors kafkajs retries by itself (a leader moving, a coordinator still
 * loading, a group rebalancing): kafkajs logs each failed attempt at ERROR, though the attempt is
 * retried and only a final failure reaches our code (which reports it). Taken from kafkajs' own
 * table, so they follow a kafkajs upgrade.
 */
const RETRIED_BROKER_ERRORS = new Set(errorCodes.filter((e) => e.retriable).map((e) => e.message));

/**
 * Messages of the broker's ACL refusals (TOPIC_AUTHORIZATION_FAILED and the like): kafkajs logs
 * each at ERROR where it meets it, and the refusal then reaches the command, which reports it in
 * one line naming the principal and what to ask for (`security-errors.ts`); the raw line is for
 * debugging.
 */
const REPORTED_BY_COMMAND = new Set(errorCodes.filter((e) => e.type.endsWith('_AUTHORIZATION_FAILED')).map((e) => e.message));

/** kafkajs messages of normal operation, with the level they deserve. */
const NORMAL_OPERATION: ReadonlyMap<string, 'info' | 'debug'> = new Map([
  ['The group is rebalancing, re-joining', 'info'],
  ['Consumer is not aware of all assigned partitions, refreshing metadata', 'debug'],
  // Safe for us, so not worth a warning: our idempotent producers are either transactional (a send
  // that exhausts its retries aborts the transaction, and the work is redone in a new one) or
  // ingest's, where a send that exhausts its retries fails the command; neither re-sends a batch
  // in the same producer session, which is what limited retries could duplicate.
  ['Limiting retries for the idempotent producer may invalidate EoS guarantees', 'debug'],
]);

type PinoLevel = 'error' | 'warn' | 'info' | 'debug';

const SEND_RETRY_PREFIX = 'Failed to send messages: ';

/** The level a kafkajs log line is written at: its own, unless it is part of normal operation. */
export function kafkaLineLevel(level: kafkajs.logLevel, message: string, fields: Record<string, unknown>): PinoLevel {
  const normal = NORMAL_OPERATION.get(message);
  if (normal) return normal;
  const error = typeof fields['error'] === 'string' ? fields['error'] : undefined;
  // The producer logs each retried send as "Failed to send messages: <broker message>".
  const bare = message.startsWith(SEND_RETRY_PREFIX) ? message.slice(SEND_RETRY_PREFIX.length) : message;
  if ((level === KafkaLogLevel.ERROR || level === KafkaLogLevel.WARN) && (RETRIED_BROKER_ERRORS.has(bare) || (error !== undefined && RETRIED_BROKER_ERRORS.has(error)))) {
    return 'debug';
  }
  if (REPORTED_BY_COMMAND.has(message) || (error !== undefined && REPORTED_BY_COMMAND.has(error))) return 'debug';
  if (level === KafkaLogLevel.ERROR) return 'error';
  if (level === KafkaLogLevel.WARN) return 'warn';
  return level === KafkaLogLevel.INFO ? 'info' : 'debug';
}

function pinoLogCreator(logger: Logger): kafkajs.logCreator {
  const base = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = log;
      base[kafkaLineLevel(level, message, fields)]({ namespace, ...fields }, message);
    };
}

export interface CreateKafkaOptions {
  /** Where kafkajs logs go; without one kafkajs is silent (its errors still reach callers). */
  logger?: Logger;
  /** Appended to config.kafka.clientId, e.g. the stage name, to tell clients apart in broker logs. */
  clientIdSuffix?: string;
  /** Overrides config.kafka.brokers (tests). */
  brokers?: string[];
  /** Extra kafkajs settings (retry, ssl, sasl...), merged last. */
  overrides?: Partial<KafkaConfig>;
}

const warnedUnverified = new WeakSet<object>();

/** A kafkajs client for the configured cluster, with its TLS and SASL settings. */
export function createKafka(config: Pick<Config, 'kafka' | 'logLevel'>, opts: CreateKafkaOptions = {}): Kafka {
  // kafkajs' idle connections spin a 1 ms timer each (see request-queue-fix.ts).
  installRequestQueueFix();
  const clientId = opts.clientIdSuffix ? `${config.kafka.clientId}-${opts.clientIdSuffix}` : config.kafka.clientId;
  const settings: KafkaConfig = {
    clientId,
    brokers: opts.brokers ?? config.kafka.brokers,
    connectionTimeout: 5000,
    requestTimeout: 30_000,
    logLevel: opts.logger ? kafkaLogLevel(config.logLevel) : KafkaLogLevel.NOTHING,
    ...(opts.logger ? { logCreator: pinoLogCreator(opts.logger) } : {}),
  };
  // TLS and SASL from kafka.securityProtocol, kafka.ssl and kafka.sasl (files read once, here).
  const security = kafkaSecurityOptions(config.kafka);
  if (security.ssl) settings.ssl = security.ssl;
  if (security.sasl) settings.sasl = security.sasl;
  noteKafkaIdentity(kafkaIdentity(config.kafka, settings.brokers as string[]));
  if (opts.logger && security.ssl?.rejectUnauthorized === false && !warnedUnverified.has(config.kafka)) {
    warnedUnverified.add(config.kafka);
    opts.logger.warn({ brokers: settings.brokers }, 'kafka.ssl.rejectUnauthorized is false: the brokers\' certificates are not checked, so anyone on the path can read and change the traffic');
  }
  // Partial<KafkaConfig> allows explicit undefined values; drop them rather than override with them.
  for (const [key, value] of Object.entries(opts.overrides ?? {})) {
    if (value !== undefined) (settings as unknown as Record<string, unknown>)[key] = value;
  }
  return new KafkaClass(settings);
}

/**
 * A producer with the Java-compatible partitioner (murmur2, the kafkajs v2 default, so keys land
 * where Java and librdkafka clients put them) chosen explicitly, which also silences kafkajs'
 * partitioner warning. Idempotent with acks=all by default. A transactional producer also gets
 * the transaction-coordinator cache of `coordinator-cache.ts`.
 */
export function createProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  if (config.transactionalId !== undefined) installTransactionCoordinatorCache();
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    ...config,
  });
}
