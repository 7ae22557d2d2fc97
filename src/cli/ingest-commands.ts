/**
 * The long-running modes of `ingest`: `--from-topic <name> --format json|warc` (the crawl bridge,
 * a crawler's topic into `docs.raw`) and `--follow <dir>` (files a crawler closes in a folder).
 * Both run until SIGTERM/SIGINT, serve `/metrics`, `/healthz` and `/readyz` with `--metrics-port`
 * as the stage workers do, and exit 1 when they fail on their own.
 */
import { hostname } from 'node:os';
import { stat } from 'node:fs/promises';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { WebscaleError } from '../core/errors.js';
import { CRAWL_FORMATS, type CrawlFormat } from '../ingest/crawl-records.js';
import { createCrawlBridge } from '../ingest/bridge.js';
import { FileFollower } from '../ingest/follower.js';
import { createMetrics, startHealthServer, type WebscaleMetrics } from '../metrics/index.js';
import { setup } from './kafka-commands.js';
import type { CommonFlags } from './options.js';

export interface IngestFlags extends CommonFlags {
  fromTopic?: string;
  format?: string;
  group?: string;
  follow?: string;
  metricsPort?: number;
  instanceId?: string;
}

/** What the two modes share with a stage worker, for serving and stopping them alike. */
interface Service {
  state: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  readiness(): { ready: boolean; checks: Record<string, boolean> };
}

/** Starts the service, serves health and metrics, stops on SIGTERM/SIGINT; 0 stopped, 1 failed. */
async function serve(service: Service, failed: () => Promise<unknown>, metrics: WebscaleMetrics, port: number | undefined, logger: Logger): Promise<number> {
  const health =
    port === undefined
      ? null
      : await startHealthServer({ port, metrics, isAlive: () => service.state !== 'failed', isReady: () => Promise.resolve(service.readiness()) });
  if (health) logger.info({ port: health.port }, 'metrics and health endpoints listening');
  let onSignal: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => (onSignal = resolve));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let code = 0;
  try {
    await service.start();
    await Promise.race([signalled, failed()]);
  } catch (err) {
    logger.error({ err }, 'ingest failed');
    code = 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await service.stop().catch((err: unknown) => logger.warn({ err }, 'stop failed'));
    await health?.close();
    logger.flush();
  }
  return code;
}

export async function bridgeCommand(flags: IngestFlags): Promise<number> {
  const format = (flags.format ?? 'json') as CrawlFormat;
  if (!CRAWL_FORMATS.includes(format)) throw new WebscaleError('USAGE', `unknown --format "${flags.format}": expected one of ${CRAWL_FORMATS.join(', ')}`);
  const topic = flags.fromTopic ?? '';
  const { config, logger, kafka } = await setup(flags, ['docs.raw', 'rejections', 'dlq']);
  if (flags.group !== undefined) config.ingest.bridgeGroup = flags.group;
  await requireTopic(kafka, topic);
  const metrics = createMetrics({ stage: 'ingest' });
  const worker = createCrawlBridge({
    config,
    kafka,
    logger,
    topic,
    format,
    metrics: metrics.forStage(),
    instanceId: flags.instanceId ?? process.env['WEBSCALE_INSTANCE_ID'] ?? `${hostname()}-${process.pid}`,
  });
  return serve(worker, () => worker.failed(), metrics, flags.metricsPort, logger);
}

/** A crawler topic that does not exist is a wrong flag, said in one line, not a consumer crash. */
async function requireTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new WebscaleError('USAGE', `--from-topic ${topic}: no such topic (give the crawler's topic by its full name)`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function followCommand(dir: string, flags: IngestFlags): Promise<number> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new WebscaleError('USAGE', `--follow needs a folder: ${dir} is not one`);
  const { config, logger, kafka, codecs } = await setup(flags, ['docs.raw', 'rejections']);
  const metrics = createMetrics({ stage: 'ingest-follow' });
  const follower = new FileFollower({ config, kafka, codecs, logger, dir, metrics: metrics.forStage() });
  try {
    return await serve(follower, () => follower.done().then(() => new Promise<never>(() => undefined)), metrics, flags.metricsPort, logger);
  } finally {
    await codecs.close();
  }
}

/** `ingest` with files or stdin, or one of the two long-running modes; never two at once. */
export function ingestMode(files: string[], flags: IngestFlags): 'files' | 'bridge' | 'follow' {
  const modes = [flags.fromTopic !== undefined, flags.follow !== undefined, files.length > 0].filter(Boolean).length;
  if (modes > 1) throw new WebscaleError('USAGE', 'ingest takes files, --from-topic or --follow, not several of them');
  if (flags.format !== undefined && flags.fromTopic === undefined) throw new WebscaleError('USAGE', '--format goes with --from-topic');
  if (flags.group !== undefined && flags.fromTopic === undefined) throw new WebscaleError('USAGE', '--group goes with --from-topic');
  if (flags.fromTopic !== undefined) return 'bridge';
  if (flags.follow !== undefined) return 'follow';
  return 'files';
}
