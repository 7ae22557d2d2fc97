/**
 * The crawl bridge (`ingest --from-topic <name> --format json|warc`): a crawler's own topic into
 * `docs.raw`, exactly once. It is a stage of the Kafka stage worker whose input is decoded from the
 * crawler's bytes instead of Avro and whose process function calls no LLM: the worker's consumer
 * group, per-partition transactional producers (a frozen or replaced bridge is fenced), commit
 * metadata, backpressure, metrics and readiness are the stage workers' own, not a second copy.
 */
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { DocumentRecord } from '../core/records.js';
import type { Extractor } from '../input/html.js';
import { groupName } from '../kafka/index.js';
import type { LlmRouter } from '../llm/types.js';
import type { StageRecorder } from '../metrics/index.js';
import type { StageBinding } from '../runtime/stage-bindings.js';
import { StageWorker } from '../runtime/stage-worker.js';
import { Decontaminator } from '../stages/decontaminate.js';
import { FewshotLibrary } from '../stages/fewshot.js';
import type { StageResult } from '../stages/types.js';
import { decodeCrawlMessage, type CrawlFormat, type CrawlItem } from './crawl-records.js';

/** The bridge decides everything while decoding; the "stage" only sorts the result. */
function routeItem(item: CrawlItem): Promise<StageResult<DocumentRecord>> {
  switch (item.kind) {
    case 'document':
      return Promise.resolve({ outputs: [item.doc], rejections: [] });
    case 'rejection':
      return Promise.resolve({ outputs: [], rejections: [item.rejection] });
    case 'skip':
      return Promise.resolve({ outputs: [], rejections: [] });
  }
}

export function crawlBridgeBinding(format: CrawlFormat, maxBytes: number, extractor?: Extractor): StageBinding {
  const binding: StageBinding<'Document', 'Document'> = {
    stage: 'ingest',
    inputSuffix: '',
    inputType: 'Document',
    decode: (value, origin) => decodeCrawlMessage(format, value, origin, { maxBytes, ...(extractor ? { extractor } : {}) }),
    outputSuffix: 'docs.raw',
    outputType: 'Document',
    fn: routeItem as unknown as StageBinding<'Document', 'Document'>['fn'],
    docIdOf: (d) => d.id,
    keyOf: (d) => d.id,
  };
  return binding as unknown as StageBinding;
}

/** The bridge calls no LLM: a router that says so if anything ever asks it for one. */
const NO_LLM: LlmRouter = {
  forStage(stage) {
    throw new WebscaleError('INTERNAL', `the crawl bridge has no LLM (asked for stage ${stage})`);
  },
  close: () => Promise.resolve(),
};

export interface CrawlBridgeOptions {
  config: Config;
  kafka: Kafka;
  logger: Logger;
  topic: string;
  format: CrawlFormat;
  metrics?: StageRecorder;
  instanceId?: string;
}

export function bridgeGroupId(config: Config): string {
  return config.ingest.bridgeGroup ?? groupName(config.kafka.topicPrefix, 'ingest-bridge');
}

export function createCrawlBridge(o: CrawlBridgeOptions): StageWorker {
  return new StageWorker({
    stage: crawlBridgeBinding(o.format, o.config.ingest.maxMessageBytes, o.config.input.extractor),
    groupId: bridgeGroupId(o.config),
    inputTopic: o.topic,
    config: o.config,
    kafka: o.kafka,
    llm: NO_LLM,
    fewshot: new FewshotLibrary([]),
    decontaminator: Decontaminator.empty(),
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.instanceId ? { instanceId: o.instanceId } : {}),
    highWater: o.config.ingest.bridgeInFlight,
  });
}
