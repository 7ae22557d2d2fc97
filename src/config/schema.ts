/**
 * The configuration schema. Parsed once, at the edge: the schema's input type is what users write
 * (YAML or JSON file, flags, environment), its output type is the compiled form with defaults
 * applied and durations in milliseconds. Per-stage LLM overrides sit under `llm.stages.<stage>`.
 */
import { z } from 'zod';
import { LLM_STAGES } from '../core/records.js';
import { EXTRACTORS } from '../input/extractors.js';
import { duration } from './duration.js';
import { kafkaSecurityIssues, kafkaSecurityShape } from './kafka-security.js';
import { qualityRulesSchema } from './quality-rules.js';

export { duration };

export const BACKENDS = ['auto', 'openai', 'hf', 'local'] as const;

/**
 * An endpoint's rate limits (per minute), shared by every worker of every stage that calls the
 * same URL and model: requests, tokens (prompt + completion), and input and output tokens for
 * providers that limit them apart. Unset: learnt from the `x-ratelimit-limit-*` headers.
 */
const rateLimitsShape = {
  rpm: z.number().positive().optional(),
  tpm: z.number().positive().optional(),
  itpm: z.number().positive().optional(),
  otpm: z.number().positive().optional(),
};

const rateLimitSchema = z
  .object({
    ...rateLimitsShape,
    /** Share of each limit aimed at: headroom for token-estimate error and clients we do not see. */
    target: z.number().gt(0).max(1).default(0.97),
    /** Bucket capacity as refill time: how much a worker may send at once after a quiet spell. */
    burst: duration.default(1000),
  })
  .strict();

/** USD per million tokens of one model; `batchDiscount` is the price factor of Batch API work. */
const priceSchema = z
  .object({
    input: z.number().nonnegative(),
    output: z.number().nonnegative(),
    batchDiscount: z.number().min(0).max(1).default(0.5),
  })
  .strict();

/** Spending limits: reaching one stops intake; work in flight finishes. */
const budgetSchema = z
  .object({
    usd: z.number().positive().optional(),
    tokens: z.number().int().positive().optional(),
    /** Names the budget on Kafka: spend recorded under another name does not count (a new name starts afresh). */
    name: z.string().min(1).default('default'),
  })
  .strict();

/** What can be set per stage; unset fields inherit from the top-level `llm` block. */
const stageLlmSchema = z
  .object({
    backend: z.enum(BACKENDS).optional(),
    url: z.url().optional(),
    model: z.string().min(1).optional(),
    /** Bearer key sent only to this stage's URL (llm.apiKey goes only to llm.url's origin). */
    apiKey: z.string().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().positive().optional(),
    /** The stage model's context in tokens (prompt + completion); see `llm.contextSize`. */
    contextSize: z.number().int().positive().optional(),
    /** Rate limits of this stage's endpoint, when it is not the top-level one's (see `llm.rateLimit`). */
    rateLimit: z.object(rateLimitsShape).strict().optional(),
  })
  .strict();

const localSchema = z
  .object({
    /** Path to a GGUF file; default: the model provisioned by `npm run model:fetch`. */
    modelPath: z.string().min(1).optional(),
    contextSize: z.number().int().positive().default(4096),
    /** CPU threads for llama.cpp; 0 = automatic (1 for models under 1 GB, else all cores). */
    threads: z.number().int().nonnegative().default(0),
    /** Parallel sequences decoded together in one context (batching on a CPU). */
    sequences: z.number().int().positive().default(1),
    /**
     * Cap on every free-text string field of the output grammar (characters; 0 = no cap). Small
     * models ramble until maxTokens; a cap makes the grammar close the string and the JSON instead.
     * Below 2000: llama.cpp's grammar parser refuses bounded repetitions of 2000 or more.
     */
    maxStringChars: z.number().int().nonnegative().max(1999).default(600),
  })
  .strict();

/**
 * The OpenAI Batch API (`run --batch`, see src/llm/batch/): requests are collected into waves,
 * uploaded as a JSONL file, run by the provider within its completion window at its batch price,
 * and their results fed back to the waiting stage code.
 */
export const batchSchema = z
  .object({
    /** Send the LLM calls through the Batch API (`run --batch`). */
    enabled: z.boolean().default(false),
    /** Lines per batch at most (OpenAI's limit is 50,000). */
    maxRequests: z.number().int().positive().max(50_000).default(50_000),
    /** Bytes of one batch input file at most (OpenAI's limit is 200 MB; the default leaves a margin). */
    maxBytes: z.number().int().positive().max(200 * 1024 * 1024).default(190 * 1024 * 1024),
    /** A wave is submitted this long after its first request was queued (or sooner, once full). */
    window: duration.default(5000),
    /** How often a submitted batch's status is asked for. */
    pollInterval: duration.default(30_000),
    /** Documents in flight in batch mode (each waits for a batch per stage; memory holds their texts). */
    documents: z.number().int().positive().default(5000),
    /** The provider's completion window (OpenAI accepts only 24h). */
    completionWindow: z.string().min(1).default('24h'),
    /** The persisted batch ids of a run; default `<output>.batches.jsonl` (`--batch-state`). */
    stateFile: z.string().min(1).optional(),
  })
  .strict();

/**
 * The LLM response log (src/llm/response-log/): every completion kept under a hash of what decides
 * it, so a repeat of the same request is answered without a call. `run` keeps it in a local store
 * beside its output; the Kafka stage workers in the compacted topic `<prefix>llm.responses`.
 */
const responseLogSchema = z
  .object({
    /** Off: every request goes to the LLM, nothing is recorded (and `run --resume` re-pays). */
    enabled: z.boolean().default(true),
    /** `run`: the store's file; default beside the output (`out/qa.jsonl` -> `out/qa.responses.mdb`). */
    path: z.string().min(1).optional(),
    /**
     * Flush every commit to disk (fsync). Off, a killed process loses nothing (the OS holds the
     * pages) but a power loss may lose the last commits; on, each commit waits for the disk.
     */
    sync: z.boolean().default(false),
    /**
     * Kafka: the folder of the worker's local index of the topic (a copy that survives restarts,
     * so a restarted worker reads only what is new); default a folder under the OS temp dir.
     */
    cacheDir: z.string().min(1).optional(),
  })
  .strict();

const llmSchema = z
  .object({
    backend: z.enum(BACKENDS).default('auto'),
    /** OpenAI-compatible base URL ending in /v1, or a TGI endpoint for the hf backend. */
    url: z.url().optional(),
    model: z.string().min(1).optional(),
    /** Hugging Face token; normally from HF_TOKEN. Sent only to Hugging Face hosts; redacted in logs. */
    token: z.string().min(1).optional(),
    /** API key, normally from OPENAI_API_KEY. Sent only to the origin of `url`; redacted in logs. */
    apiKey: z.string().min(1).optional(),
    timeout: duration.default(120_000),
    maxRetries: z.number().int().nonnegative().default(6),
    backoffInitial: duration.default(500),
    backoffMax: duration.default(30_000),
    temperature: z.number().min(0).max(2).default(1),
    maxTokens: z.number().int().positive().default(4096),
    /**
     * The served model's context in tokens (prompt + completion). Documents are cut to fit it
     * before the call. Unset: no cut up front; a server's "context length exceeded" answer is
     * read for its limit, and the document is cut to that and sent once more. The local backend
     * ignores it and uses the context it runs with (`llm.local.contextSize`, at most the model's).
     */
    contextSize: z.number().int().positive().optional(),
    /** Characters per token of the estimate that sizes documents for `contextSize` (lower = safer). */
    charsPerToken: z.number().positive().max(16).default(3),
    /** Extra requests when the model's output does not parse or validate. */
    maxReasks: z.number().int().nonnegative().default(2),
    /** Whether to send `response_format` with the JSON schema. */
    jsonSchema: z.boolean().default(true),
    /**
     * Shape of `response_format`: `openai` ({type: "json_schema", ...}), `tgi` ({type: "json",
     * value}), `none`; `auto` picks `openai`, except for an hf `url` that answers TGI's `/info`.
     */
    responseFormat: z.enum(['auto', 'openai', 'tgi', 'none']).default('auto'),
    stages: z
      .object(Object.fromEntries(LLM_STAGES.map((s) => [s, stageLlmSchema.optional()])) as {
        [K in (typeof LLM_STAGES)[number]]: z.ZodOptional<typeof stageLlmSchema>;
      })
      .strict()
      .default({}),
    local: localSchema.default(localSchema.parse({})),
    rateLimit: rateLimitSchema.default(rateLimitSchema.parse({})),
    /** Prices by model name (as configured, or `default` for any other), USD per million tokens. */
    prices: z.record(z.string().min(1), priceSchema).default({}),
    batch: batchSchema.default(batchSchema.parse({})),
    responseLog: responseLogSchema.default(responseLogSchema.parse({})),
  })
  .strict();

/**
 * Deduplication before any LLM call (the `dedup` stage): exact copies by a hash of the normalised
 * text, near copies by MinHash over word n-grams with LSH banding (see src/dedup/minhash.ts).
 */
const dedupSchema = z
  .object({
    /** Off: the filter reads docs.raw directly (Kafka) and `run` keeps every copy. */
    enabled: z.boolean().default(true),
    /** Words per shingle. */
    ngram: z.number().int().min(1).max(32).default(5),
    /**
     * LSH bands and rows per band (DataTrove's defaults). A pair at Jaccard J is caught with
     * probability 1 - (1 - J^rows)^bands: 0.92 at 0.8, 0.99 at 0.85, 0.05 at 0.5.
     */
    bands: z.number().int().min(1).max(32).default(14),
    rows: z.number().int().min(1).max(64).default(8),
    /** Mixed into the hashes; changing it (or ngram, bands, rows, hashing) starts a fresh index. */
    seed: z.number().int().nonnegative().max(0xffffffff).default(0),
    /**
     * How the bands x rows MinHash values are computed (src/dedup/minhash.ts): one-permutation
     * hashing with optimal densification (one hash per n-gram), or the classic k-permutation
     * scheme (one hash per n-gram per value). Indexes made before 2026-11-30 used k-permutation:
     * set it to keep matching their near-duplicates (their exact copies match either way).
     */
    hashing: z.enum(['one-permutation', 'k-permutation']).default('one-permutation'),
    /**
     * Kept documents the index remembers per process (about 1.3 kB each with the defaults and
     * sha256 ids, measured by `npm run bench -- --only dedup`); past it the oldest is forgotten,
     * and a copy of it is kept again.
     */
    maxEntries: z.number().int().positive().default(1_000_000),
  })
  .strict();

const pipelineSchema = z
  .object({
    /** Documents with fewer whitespace-separated tokens are rejected (filter.too_short). */
    minTokens: z.number().int().nonnegative().default(50),
    /** Documents longer than this many characters are rejected or truncated (see oversize). */
    maxDocumentChars: z.number().int().positive().default(200_000),
    oversize: z.enum(['reject', 'truncate']).default('truncate'),
    /** Reject documents whose share of letters among non-space characters is below this. */
    minAlphaRatio: z.number().min(0).max(1).default(0.25),
    /** Reject documents whose most frequent line makes up more than this share of lines. */
    maxDuplicateLineRatio: z.number().min(0).max(1).default(0.5),
    /**
     * Ask the LLM whether each document that passed the heuristic pre-filter can yield a
     * verifiable question. false = pre-filter only (the call is skipped and the skip recorded in
     * the trace and provenance); the local profile turns it off, as a tiny model's verdict there
     * is no better than chance while the check stage's verdicts still guard every pair.
     */
    llmFilter: z.boolean().default(true),
    /**
     * Prompt wording: `full` (detailed, for capable models) or `compact` (the same rules in a few
     * plain lines, for tiny local models); see src/stages/prompts.ts.
     */
    promptStyle: z.enum(['full', 'compact']).default('full'),
    /**
     * Put `reasoning` after `question` and `answer` in the generate stage's output schema. Same
     * fields, same checks; a tiny model writes a real question only when its reply starts with one.
     */
    reasoningLast: z.boolean().default(false),
    maxPersonas: z.number().int().min(1).max(3).default(3),
    /** Few-shot examples per generation prompt (paper default: 2). */
    fewshotPerPrompt: z.number().int().nonnegative().default(2),
    /** A folder of <domain>.jsonl few-shot files in the reference format; default: ours. */
    fewshotDir: z.string().min(1).optional(),
    /** Compact prompts for small models: cut each few-shot material to this many characters. */
    fewshotMaxChars: z.number().int().positive().optional(),
    /** Compact prompts for small models: cut the document in prompts to this many characters. */
    promptDocumentChars: z.number().int().positive().optional(),
    /** Answers longer than this many characters are rejected before the LLM check. */
    maxAnswerChars: z.number().int().positive().default(200),
    /** Copy the source document into every sink record. */
    includeSourceText: z.boolean().default(false),
    /** Mixed into every sampling seed; change it to draw a different but reproducible sample. */
    seed: z.number().int().nonnegative().default(0),
    /**
     * `run` exits 3 when more than this share of its documents (malformed input lines not counted)
     * ended with an `llm.failed` rejection: then the LLM, not the data, decided the run. 0 = any
     * such document fails the run; 1 = never.
     */
    maxLlmFailedShare: z.number().min(0).max(1).default(0.5),
    /**
     * Languages (ISO 639-1, or 639-3 where a language has no 639-1 code) whose documents go on;
     * others are rejected as `filter.language` before any LLM call. `all` keeps every language.
     * Add `und` to keep documents whose language could not be determined.
     */
    languages: z.union([z.literal('all'), z.array(z.string().regex(/^[A-Za-z]{2,3}$/, 'expected a language code such as "en"')).min(1)]).default('all'),
    /** Below this probability of its best guess the detector leaves a document's language unknown (null). */
    languageMinConfidence: z.number().min(0).max(1).default(0.5),
    /**
     * Characters of a document the word-based pre-filter rules read (length, symbols, repeated
     * n-grams): the cost and memory of word segmentation stay bounded however long the document.
     */
    ruleSampleChars: z.number().int().min(1000).default(20_000),
    /** The crawl-quality rules (see src/config/quality-rules.ts and README, *Pre-filter rules*). */
    qualityRules: qualityRulesSchema.default(qualityRulesSchema.parse({})),
    dedup: dedupSchema.default(dedupSchema.parse({})),
  })
  .strict();

const decontaminationSchema = z
  .object({
    /** JSON-lines files of benchmark items; each line's question/prompt/text fields are indexed. */
    benchmarks: z.array(z.string().min(1)).default([]),
    ngram: z.number().int().min(1).default(13),
  })
  .strict();

const kafkaSchema = z
  .object({
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:19092']),
    topicPrefix: z.string().default('webscale-rl.'),
    clientId: z.string().min(1).default('webscale-rl'),
    schemaRegistryUrl: z.url().optional(),
    /** Credentials and TLS of the schema registry (used only with schemaRegistryUrl). */
    schemaRegistry: z
      .object({
        /** HTTP Basic auth; takes precedence over user-info in the URL. */
        username: z.string().min(1).optional(),
        password: z.string().optional(),
        /** A bearer token (`Authorization: Bearer ...`). */
        bearerToken: z.string().min(1).optional(),
        /** A file holding the bearer token, re-read for every registry request (a rotated token). */
        bearerTokenFile: z.string().min(1).optional(),
        /** Extra headers for every registry request (Confluent Cloud OAuth: target-sr-cluster, Confluent-Identity-Pool-Id). */
        headers: z.record(z.string().min(1), z.string()).default({}),
        /** PEM file of CA certificates to trust instead of the system's. */
        ca: z.string().min(1).optional(),
        /** PEM client certificate and key files (mutual TLS). */
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** Per-request timeout. */
        timeout: duration.default(10_000),
      })
      .strict()
      .refine((r) => !(r.bearerToken !== undefined && r.bearerTokenFile !== undefined), { message: 'set bearerToken or bearerTokenFile, not both' })
      .refine((r) => !((r.bearerToken !== undefined || r.bearerTokenFile !== undefined) && r.username !== undefined), { message: 'set username/password or a bearer token, not both' })
      .refine((r) => (r.cert === undefined) === (r.key === undefined), { message: 'cert and key go together' })
      .default({ headers: {}, timeout: 10_000 }),
    /**
     * A folder laid out like the package's `schemas/` (one `<Name>.avsc` per record type, older
     * versions in `history/`) to write and read with instead of the bundled one. For testing a
     * schema change before it ships, and for rolling-upgrade tests.
     */
    schemaDir: z.string().min(1).optional(),
    /**
     * How long a stage worker waits for a record's writer schema it does not know (not bundled, not
     * yet in `<prefix>schemas`, an id the registry does not have) before dead-lettering the record.
     */
    unknownSchemaWait: duration.default(120_000),
    /**
     * How long a Kafka command waits at start for any broker to answer before it gives up with one
     * line naming the brokers (a stopped development broker, a wrong --brokers).
     */
    connectTimeout: duration.default(30_000),
    /** How often a stage worker commits its transaction of outputs + offsets. */
    commitInterval: duration.default(1000),
    /** Drain time on SIGTERM/SIGINT before the worker gives up on in-flight records. */
    shutdownGrace: duration.default(30_000),
    sessionTimeout: duration.default(30_000),
    /**
     * Longest a fetch waits at the broker for new records. kafkajs also sleeps this long after a
     * fetch that found every partition paused, and resume() does not cut that sleep short, so a
     * long wait starves a worker that pauses for backpressure.
     */
    fetchMaxWait: duration.default(100),
    /**
     * Most bytes one fetch of a stage worker brings (over all its partitions, and per partition).
     * kafkajs drops the rest of a fetch once intake pauses and fetches it again on resume, so a
     * fetch much larger than the records intake can take (`3 x concurrency`) is decoded over and
     * over. A record larger than this still comes, alone (the broker always returns one batch).
     */
    fetchMaxBytes: z.number().int().positive().default(1024 * 1024),
    /**
     * Bytes of finished outputs a stage worker may hold in memory until their commit (they wait
     * behind a record still in flight on the same partition). Above it intake pauses, so one
     * stuck record cannot grow the heap without bound.
     */
    maxUncommittedBytes: z.number().int().positive().default(64 * 1024 * 1024),
    /**
     * A record whose LLM calls keep failing while other records succeed goes to the DLQ once it is
     * this old (or after maxRecordAttempts), freeing its partition's committed offset. During an
     * outage (nothing succeeds) no record is dead-lettered: intake pauses instead.
     */
    maxRecordAge: duration.default(600_000),
    /** Attempts (each with the LLM layer's own retries) for such a record before the DLQ. */
    maxRecordAttempts: z.number().int().positive().default(3),
    /**
     * Room for the list of finished offsets in a commit's metadata: the broker's
     * offset.metadata.max.bytes (4096 by default) less a margin. Records finished beyond what
     * fits wait in memory (bounded by maxUncommittedBytes).
     */
    commitMetadataBytes: z.number().int().min(64).default(4000),
    /** Transaction timeout of the stage workers' producers: an open transaction of a crashed worker is aborted after it. */
    transactionTimeout: duration.default(60_000),
    /** Compacted topic where workers share their rate-limit membership and spend; default `<prefix>llm.quota` (created when missing). */
    quotaTopic: z.string().min(1).optional(),
    /** How often a worker publishes its membership and spend to the quota topic. */
    quotaHeartbeat: duration.default(1000),
    /** A member not heard from for this long no longer holds a share of any rate limit. */
    quotaMemberTtl: duration.default(5000),
    /** TLS and SASL: `securityProtocol`, `ssl`, `sasl` (see kafka-security.ts). */
    ...kafkaSecurityShape,
  })
  .strict()
  .superRefine((kafka, ctx) => {
    for (const issue of kafkaSecurityIssues(kafka)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

const inputSchema = z
  .object({
    /** Field of a JSON line or parquet row that holds the document text (`--text-field`). */
    textField: z.string().min(1).default('text'),
    /** Field that holds the document id; absent ids are a content hash (`--id-field`). */
    idField: z.string().min(1).default('id'),
    /** Field that holds the source URL (`--url-field`). */
    urlField: z.string().min(1).default('url'),
    /**
     * Longest line, WARC record payload, HTML page or text file, in bytes. Longer ones become
     * `input.too_large` rejections while they stream, never buffered whole.
     */
    maxRecordBytes: z.number().int().positive().default(16 * 1024 * 1024),
    /** Largest parquet row group read (uncompressed bytes of the columns read); larger ones are `input.too_large`. */
    maxRowGroupBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /**
     * Main-content extraction for HTML (src/input/extractors.ts): `auto` (the page's one
     * article when its markup marks one clearly, else the one element holding nearly all its
     * paragraphs, else Mozilla Readability), `readability`
     * (always Readability) or `body` (the body without nav/header/footer/aside).
     */
    extractor: z.enum(EXTRACTORS).default('auto'),
  })
  .strict();

const exportSchema = z
  .object({
    /**
     * Rows per parquet row group of `export` and `run --output x.parquet`. A row group is the unit
     * held in memory while writing (and the unit a reader loads), so this bounds memory.
     */
    rowGroupRows: z.number().int().positive().default(10_000),
    /** A row group is closed early once its rows hold about this many bytes (long source texts). */
    rowGroupBytes: z.number().int().positive().default(64 * 1024 * 1024),
    /**
     * Most bytes of records one fetch of `export` brings from the broker. kafkajs keeps a fetch's
     * records as objects until they are written; its 10 MiB default held 58 MB of live heap in
     * an export of small records, 1 MiB held 28 MB, and 10 MiB was no faster.
     */
    fetchMaxBytes: z.number().int().positive().default(2 * 1024 * 1024),
  })
  .strict();

const followSchema = z
  .object({
    /**
     * A file is closed, and read, once its size and modification time have not changed for this
     * long; names starting with "." or ending in .tmp, .part, .partial or .inprogress never are.
     */
    settle: duration.default(5000),
    /** How often the folder is listed for new closed files. */
    pollInterval: duration.default(1000),
    /**
     * Names the follower: the transactional id that fences an earlier instance, and the owner of
     * its progress entries. Default: `<prefix>ingest-follow.` + a hash of the folder's absolute path.
     */
    name: z.string().min(1).optional(),
    /** Compacted topic of per-file progress; default `<prefix>ingest.progress` (created when missing). */
    progressTopic: z.string().min(1).optional(),
    /** Records (documents and rejections) per transaction at most. */
    batchRecords: z.number().int().positive().default(500),
    /** Bytes of encoded records per transaction at most (one record larger than this goes alone). */
    batchBytes: z.number().int().positive().default(1024 * 1024),
  })
  .strict();

const ingestSchema = z
  .object({
    /** Consumer group of the crawl bridge (`ingest --from-topic`); default `<prefix>ingest-bridge`. */
    bridgeGroup: z.string().min(1).optional(),
    /**
     * A document whose encoded size is above this becomes an `input.too_large` rejection instead
     * of a message `docs.raw` would refuse (its max.message.bytes is 8 MiB).
     */
    maxMessageBytes: z.number().int().positive().default(8_000_000),
    /**
     * Crawler messages the bridge decodes at once before it pauses intake (resumed at two thirds).
     * No LLM waits here, so the stage workers' 3 x concurrency would pause it after every few
     * milliseconds of work; memory in flight is about this many messages.
     */
    bridgeInFlight: z.number().int().positive().default(512),
    follow: followSchema.default(followSchema.parse({})),
  })
  .strict();

const dlqSchema = z
  .object({
    /**
     * Topic where `dlq replay` records each dead letter it re-published, in the same transaction
     * as the re-published record; default `<prefix>dlq.replayed` (created when missing).
     */
    replayedTopic: z.string().min(1).optional(),
    /** Transactional id of `dlq replay`: a second replay fences the first; default `<prefix>dlq-replay`. */
    transactionalId: z.string().min(1).optional(),
    /**
     * A dead letter whose record has already been replayed this many times (the
     * `webscale-rl.replays` header) is held back instead of replayed again (`--max-replays`).
     */
    maxReplays: z.number().int().nonnegative().default(3),
    /** Dead letters re-published per transaction at most. */
    batchRecords: z.number().int().positive().default(500),
    /** Bytes of re-published records per transaction at most (one larger record goes alone). */
    batchBytes: z.number().int().positive().default(1024 * 1024),
    /** Most bytes of dead letters one fetch brings from the broker (bounds the reader's memory). */
    fetchMaxBytes: z.number().int().positive().default(2 * 1024 * 1024),
  })
  .strict();

export const configSchema = z
  .object({
    /** Max LLM calls in flight across all stages of this process. */
    concurrency: z.number().int().positive().default(32),
    llm: llmSchema.default(llmSchema.parse({})),
    pipeline: pipelineSchema.default(pipelineSchema.parse({})),
    decontamination: decontaminationSchema.default(decontaminationSchema.parse({})),
    kafka: kafkaSchema.default(kafkaSchema.parse({})),
    ingest: ingestSchema.default(ingestSchema.parse({})),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * How often a progress line is written where nobody watches a terminal: `run` with stderr not
     * a TTY (piped, CI, a pod), and every long-running Kafka command (stage workers, the crawl
     * bridge, the folder follower) through the logger at info. 0 = never.
     */
    progressInterval: duration.default(10_000),
    input: inputSchema.default(inputSchema.parse({})),
    export: exportSchema.default(exportSchema.parse({})),
    dlq: dlqSchema.default(dlqSchema.parse({})),
    budget: budgetSchema.default(budgetSchema.parse({})),
  })
  .strict();

/** What users write. */
export type ConfigInput = z.input<typeof configSchema>;
/** The compiled form: defaults applied, durations in ms. */
export type Config = z.output<typeof configSchema>;
export type LlmConfig = Config['llm'];
export type BatchConfig = Config['llm']['batch'];
export type PipelineConfig = Config['pipeline'];
export type InputConfig = Config['input'];
export type DedupConfig = Config['pipeline']['dedup'];
