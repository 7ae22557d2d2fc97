/**
 * The embedded runner: the whole pipeline in one process, no Kafka. It pulls documents from the
 * input as fast as the LLM can take them (a bounded number of documents in flight, so memory stays
 * flat however long the input), drives each through the same stage functions the Kafka workers
 * use, and hands every QA record and rejection to the sinks as soon as it is decided.
 *
 * The LLM cap is global: at most `config.concurrency` calls in flight across all stages (the
 * limiter wraps the router). Documents in flight are a multiple of that cap so the limiter always
 * has queued work: a document spends part of its life between calls, and the LLM is the cost.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { DocumentRecord, QaRecord, Rejection, StageTrace, WorkerStage } from '../core/records.js';
import { LocalDedup } from '../dedup/fingerprint.js';
import type { LlmRouter } from '../llm/types.js';
import type { InputItem } from '../input/reader.js';
import { MAX_PAIR_CHARS, checkStage, clip, dedupStage, filterStage, generateStage, identifyStage, makeRejection } from '../stages/index.js';
import type { FewshotLibrary } from '../stages/fewshot.js';
import type { Decontaminator } from '../stages/decontaminate.js';
import type { StageContext, StageFn, StageResult } from '../stages/types.js';
import { RunStats } from './stats.js';

/**
 * Where results go. `seq` is the document's position in the input (documents and input
 * rejections, counted from 0); `documentDone` is called once per position after its last record,
 * so a sink can write a document's lines as one block (see `run --resume`).
 */
export interface EmbeddedSinks {
  qa(record: QaRecord, seq: number): Promise<void> | void;
  rejection(rejection: Rejection, seq: number): Promise<void> | void;
  documentDone?(seq: number): Promise<void> | void;
}

export interface EmbeddedRunOptions {
  config: Config;
  /** Already limited to `config.concurrency` calls in flight (see `limitRouter`). */
  llm: LlmRouter;
  fewshot: FewshotLibrary;
  decontaminator: Decontaminator;
  items: AsyncIterable<InputItem>;
  sinks: EmbeddedSinks;
  logger: Logger;
  /** Stops intake: documents already started are finished. */
  stopIntake?: AbortSignal;
  /** Aborts LLM calls in flight (a second Ctrl-C). */
  abort?: AbortSignal;
  /** Documents processed at once; default 2 x concurrency. */
  documentsInFlight?: number;
  stats?: RunStats;
  /**
   * Input positions finished by an earlier run (`run --resume`): passed over, except that their
   * text still enters the dedup index, in input order, as it did the first time.
   */
  isDone?: (seq: number) => boolean;
}

export interface EmbeddedRunResult {
  stats: RunStats;
  /** True when intake was stopped before the input ended. */
  interrupted: boolean;
}

/** What happened to one document across its stages, for the run's figures. */
interface DocumentOutcome {
  llmFailed: boolean;
  /** As the filter stage decided it (or as the document came); null when unknown. */
  language: string | null;
}

/** Who a stage step works for, and what a rejection of it should carry. */
interface StepSubject {
  /** The document's place in the input (the run journal's key). */
  seq: number;
  docId: string;
  persona: string | null;
  trace: readonly StageTrace[];
  outcome: DocumentOutcome;
  /** The pair being checked and the document's domain, once known (see `Rejection`). */
  question?: string;
  answer?: string;
  domain?: string;
}

function stageFailure(stage: WorkerStage, who: StepSubject, err: WebscaleError): Rejection {
  return makeRejection({
    docId: who.docId,
    stage,
    reason: err.code.startsWith('LLM_') ? 'llm.failed' : 'pipeline.error',
    detail: `${err.code}: ${err.message}`,
    persona: who.persona,
    trace: who.trace,
    ...(who.question === undefined ? {} : { question: clip(who.question, MAX_PAIR_CHARS) }),
    ...(who.answer === undefined ? {} : { answer: clip(who.answer, MAX_PAIR_CHARS) }),
    ...(who.domain === undefined ? {} : { domain: who.domain }),
  });
}

export async function runEmbedded(options: EmbeddedRunOptions): Promise<EmbeddedRunResult> {
  const { config, sinks, logger } = options;
  const stats = options.stats ?? new RunStats();
  const abort = options.abort ?? new AbortController().signal;
  // Every LLM request in flight listens on this one signal.
  setMaxListeners(0, abort);
  const ctx: StageContext = {
    llm: options.llm,
    logger,
    signal: abort,
    config,
    fewshot: options.fewshot,
    decontaminator: options.decontaminator,
    // One index for the run: documents enter it in input order, so the first copy read is kept.
    ...(config.pipeline.dedup.enabled ? { dedup: new LocalDedup(config.pipeline.dedup) } : {}),
  };
  const maxDocs = Math.max(1, options.documentsInFlight ?? config.concurrency * 2);

  // Sink calls are serialised so a slow output file applies backpressure to everything.
  let sinkChain: Promise<void> = Promise.resolve();
  const emit = (fn: () => Promise<void> | void): Promise<void> => {
    sinkChain = sinkChain.then(fn);
    return sinkChain;
  };
  const reject = (r: Rejection, seq: number): Promise<void> => {
    stats.recordRejection(r);
    return emit(() => sinks.rejection(r, seq));
  };

  /**
   * Run one stage on one record. An LLM transport failure becomes an `llm.failed` rejection; any
   * other failure of the stage on this record (a bug) a `pipeline.error` one, so one bad record
   * never ends the run.
   */
  async function step<I, O>(
    stage: WorkerStage,
    fn: StageFn<I, O>,
    input: I,
    who: StepSubject,
  ): Promise<O[]> {
    stats.stages[stage].in++;
    let result: StageResult<O>;
    const started = performance.now();
    try {
      result = await fn(input, ctx);
    } catch (err) {
      stats.recordStageTime(stage, performance.now() - started);
      const e = WebscaleError.from(err);
      if (!e.code.startsWith('LLM_')) logger.error({ err, doc_id: who.docId, stage }, 'stage failed on a record');
      const rejection = stageFailure(stage, who, e);
      if (rejection.reason === 'llm.failed') who.outcome.llmFailed = true;
      await reject(rejection, who.seq);
      return [];
    }
    stats.recordStageTime(stage, performance.now() - started);
    if (result.language !== undefined) who.outcome.language = result.language;
    stats.stages[stage].out += result.outputs.length;
    for (const r of result.rejections) await reject(r, who.seq);
    return result.outputs;
  }

  async function processDocument(doc: DocumentRecord, seq: number): Promise<void> {
    let kept = 0;
    const outcome: DocumentOutcome = { llmFailed: false, language: doc.language ?? null };
    // Dedup decides synchronously when the document is taken (no await before it), in input order.
    const unique = ctx.dedup ? await step('dedup', dedupStage, doc, { seq, docId: doc.id, persona: null, trace: [], outcome }) : [doc];
    const filtered = (await Promise.all(unique.map((d) => step('filter', filterStage, d, { seq, docId: d.id, persona: null, trace: [], outcome })))).flat();
    for (const fd of filtered) {
      const tasks = await step('identify', identifyStage, fd, { seq, docId: doc.id, persona: null, trace: fd.trace, outcome });
      await Promise.all(
        tasks.map(async (task) => {
          const candidates = await step('generate', generateStage, task, { seq, docId: doc.id, persona: task.persona, trace: task.trace, outcome, domain: task.domain });
          for (const cand of candidates) {
            const records = await step('check', checkStage, cand, {
              seq,
              docId: doc.id,
              persona: task.persona,
              trace: cand.trace,
              outcome,
              question: cand.question,
              answer: cand.answer,
              domain: task.domain,
            });
            for (const record of records) {
              kept++;
              stats.qaKept++;
              await emit(() => sinks.qa(record, seq));
            }
          }
        }),
      );
    }
    stats.recordLanguage(outcome.language, kept);
    if (kept > 0) stats.documentsWithQa++;
    if (outcome.llmFailed) stats.documentsLlmFailed++;
  }

  const inFlight = new Set<Promise<void>>();
  let interrupted = false;
  let fatal: unknown = null;
  const documentDone = (seq: number): Promise<void> => emit(() => sinks.documentDone?.(seq));
  let nextSeq = 0;

  for await (const item of options.items) {
    if (options.stopIntake?.aborted) {
      interrupted = true;
      break;
    }
    if (item.kind === 'skip') {
      stats.recordSkip(item.reason, item.bytes);
      continue;
    }
    const seq = nextSeq++;
    if (options.isDone?.(seq) === true) {
      stats.documentsResumed++;
      stats.bytesDone += item.bytes;
      // Synchronous for the local index, like the dedup step of a processed document.
      if (item.kind === 'document' && ctx.dedup) await dedupStage(item.doc, ctx);
      continue;
    }
    if (item.kind === 'rejection') {
      stats.documentsRead++;
      stats.documentsDone++;
      stats.bytesDone += item.bytes;
      await reject(item.rejection, seq);
      await documentDone(seq);
      continue;
    }
    stats.documentsRead++;
    if (item.extraction !== undefined) stats.recordExtraction(item.extraction);
    const task = processDocument(item.doc, seq)
      // A document whose LLM calls a second Ctrl-C cut short is not finished: its llm.failed
      // rejections say nothing about the document, so it is not reported done (resume redoes it).
      .then(() => (abort.aborted ? undefined : documentDone(seq)))
      .catch((err: unknown) => {
        fatal ??= err;
        logger.error({ err, doc_id: item.doc.id }, 'document failed unexpectedly');
      })
      .finally(() => {
        stats.documentsDone++;
        stats.bytesDone += item.bytes;
        inFlight.delete(task);
      });
    inFlight.add(task);
    while (inFlight.size >= maxDocs) await Promise.race(inFlight);
    if (fatal) break;
  }
  await Promise.all(inFlight);
  await sinkChain;
  stats.finishedAt = Date.now();
  if (fatal) throw WebscaleError.from(fatal);
  return { stats, interrupted };
}
