/**
 * The embedded LLM backend: a GGUF model run in-process by llama.cpp (node-llama-cpp), so the
 * pipeline works with no server and no API key. The router imports `createLocalClient` from here
 * only when a stage resolves to the local backend, so the native binary loads only then.
 *
 * Each request is rendered with the model's own chat template into a fresh history (nothing
 * carries over between requests) and decoded under a grammar compiled from the stage's JSON
 * schema, so even a tiny model returns JSON of the right shape. The context holds
 * `llm.local.sequences` sequences; requests take a free one or wait in FIFO order, which on a
 * 2-core machine is the whole concurrency story: more parallel calls would only thrash the CPU.
 */
import { availableParallelism } from 'node:os';
import { getLlama, LlamaChat, LlamaLogLevel } from 'node-llama-cpp';
import type { ChatHistoryItem, Llama, LlamaContext, LlamaContextSequence, LlamaGrammar, LlamaModel } from 'node-llama-cpp';
import { WebscaleError } from '../core/errors.js';
import type { Config } from '../config/schema.js';
import { localModelName, resolveLocalModelPath } from './local-model-path.js';
import { overflowContext, type ContextWindow, type TokenCounter } from './context.js';
import type { ChatMessage, JsonSchemaSpec, LlmClient, LlmCompletion, LlmRequest } from './types.js';

export { DEFAULT_LOCAL_MODEL_FILE, defaultLocalModelPath, localModelDir, resolveLocalModelPath } from './local-model-path.js';

/** Models below this file size run on one thread by default (see `autoThreads`). */
const SMALL_MODEL_BYTES = 1_000_000_000;

/** Room a reply needs at the least; a prompt that leaves less than this fails up front. */
const MIN_COMPLETION_TOKENS = 16;

type GrammarSchema = Parameters<Llama['createGrammarForJsonSchema']>[0];

interface Slot {
  sequence: LlamaContextSequence;
  chat: LlamaChat;
}

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: WebscaleError) => void;
}

function aborted(stage: string): WebscaleError {
  return new WebscaleError('LLM_ABORTED', 'local LLM call aborted', { context: { backend: 'local', stage } });
}

/**
 * A copy of the schema with a `maxLength` on every free-text string (not enums or consts), so the
 * grammar closes a rambling field instead of letting it run into maxTokens.
 */
export function capStrings(schema: unknown, maxChars: number): unknown {
  if (maxChars <= 0 || schema === null || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map((s) => capStrings(s, maxChars));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    // `properties` and `$defs` map names to schemas; everything else nests schemas directly or
    // holds plain values (which capStrings leaves alone).
    if ((key === 'properties' || key === '$defs') && value !== null && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, capStrings(v, maxChars)]));
    } else if (key === 'items' || key === 'additionalProperties' || key === 'anyOf' || key === 'oneOf' || key === 'prefixItems') {
      out[key] = capStrings(value, maxChars);
    } else {
      out[key] = value;
    }
  }
  if (out['type'] === 'string' && !('enum' in out) && !('const' in out) && !('format' in out) && !('maxLength' in out)) {
    out['maxLength'] = maxChars;
  }
  return out;
}

/** Our chat messages as node-llama-cpp history, ending with the empty model turn to fill. */
function toHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    switch (m.role) {
      case 'system':
        return { type: 'system', text: m.content };
      case 'user':
        return { type: 'user', text: m.content };
      case 'assistant':
        return { type: 'model', response: [m.content] };
    }
  });
  history.push({ type: 'model', response: [] });
  return history;
}

class LocalClient implements LlmClient {
  readonly backend = 'local';
  readonly model: string;
  private readonly free: Slot[];
  private readonly waiters: Waiter[] = [];
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly llama: Llama,
    private readonly llamaModel: LlamaModel,
    private readonly context: LlamaContext,
    slots: Slot[],
    modelPath: string,
  ) {
    this.model = localModelName(modelPath);
    this.free = slots;
    const first = slots[0];
    if (first === undefined) throw new WebscaleError('INTERNAL', 'local LLM client needs at least one sequence');
    this.anyChat = first.chat;
  }

  /** A chat for rendering prompts to count them (the template is the same for every slot). */
  private readonly anyChat: LlamaChat;

  /** Tokens one sequence can hold (llama.cpp may round the configured size up). */
  get contextSize(): number {
    return this.context.contextSize;
  }

  /** The context it runs with, and the model's own tokenizer and chat template to count with. */
  contextWindow(): Promise<ContextWindow> {
    return Promise.resolve({ tokens: this.context.contextSize, counter: this.counter });
  }

  /** Exact counts: prompts through the chat template, prefixes by tokenizing and detokenizing. */
  private readonly counter: TokenCounter = {
    promptTokens: (messages) => this.promptTokens(toHistory(messages)),
    prefixChars: (text, maxTokens) => {
      if (maxTokens <= 0) return 0;
      const tokens = this.llamaModel.tokenize(text);
      if (tokens.length <= maxTokens) return text.length;
      // Detokenized text can differ from the input in spacing; its length is close, and the
      // caller re-counts the whole prompt after cutting.
      return Math.min(text.length, this.llamaModel.detokenize(tokens.slice(0, maxTokens)).length);
    },
  };

  private promptTokens(history: ChatHistoryItem[]): number {
    return this.anyChat.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(this.llamaModel.tokenizer).length;
  }

  async complete(request: LlmRequest): Promise<LlmCompletion> {
    if (this.closed) throw new WebscaleError('LLM_CLIENT', 'local LLM client is closed', { context: { backend: 'local' } });
    const { signal } = request;
    if (signal?.aborted) throw aborted(request.stage);
    const grammar = this.config.llm.jsonSchema ? await this.grammarFor(request.jsonSchema) : undefined;
    const history = toHistory(request.messages);
    const slot = await this.acquire(request.stage, signal);
    try {
      return await this.generate(slot, request, history, grammar);
    } finally {
      this.release(slot);
    }
  }

  private async generate(
    slot: Slot,
    request: LlmRequest,
    history: ChatHistoryItem[],
    grammar: LlamaGrammar | undefined,
  ): Promise<LlmCompletion> {
    const { sequence, chat } = slot;
    // Start from an empty sequence: reusing a cached prefix would save prompt evaluation, but
    // evaluating the same prompt in different batch shapes can change the logits slightly, and
    // the pipeline promises that the same seed and prompt give the same text.
    await sequence.clearHistory();

    const promptTokens = chat.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(this.llamaModel.tokenizer).length;
    const room = sequence.contextSize - promptTokens;
    if (room < MIN_COMPLETION_TOKENS) {
      // The same code and fields as a server's "context length exceeded", so the stage shortens
      // the document and asks once more, as it does for a served model.
      throw new WebscaleError(
        'LLM_CONTEXT_EXCEEDED',
        `prompt of ${promptTokens} tokens does not fit the local model's context of ${sequence.contextSize} tokens: ` +
          'shorten prompts (pipeline.promptDocumentChars, pipeline.fewshotMaxChars) or raise llm.local.contextSize',
        {
          context: {
            backend: 'local',
            stage: request.stage,
            ...overflowContext({ limit: sequence.contextSize, promptTokens, completionTokens: request.maxTokens }),
          },
        },
      );
    }
    // Never let generation reach the end of the context: node-llama-cpp would shift the context
    // (drop the start of the prompt) and keep going, which silently changes the task.
    const maxTokens = Math.min(request.maxTokens, room - 1);

    const timeoutMs = this.config.llm.timeout;
    const timer = new AbortController();
    const timeout = timeoutMs > 0 ? setTimeout(() => timer.abort(), timeoutMs) : undefined;
    const signal = request.signal === undefined ? timer.signal : AbortSignal.any([request.signal, timer.signal]);
    const before = sequence.tokenMeter.getState();
    try {
      const result = await chat.generateResponse(history, {
        ...(grammar === undefined ? {} : { grammar }),
        temperature: request.temperature,
        maxTokens,
        ...(request.seed === undefined ? {} : { seed: request.seed }),
        signal,
      });
      const used = sequence.tokenMeter.diff(before);
      const stop = result.metadata.stopReason;
      return {
        text: result.response,
        model: this.model,
        usage: { prompt_tokens: promptTokens, completion_tokens: used.usedOutputTokens },
        finishReason: stop === 'maxTokens' ? 'length' : stop === 'abort' ? 'abort' : 'stop',
      };
    } catch (err) {
      if (request.signal?.aborted) throw aborted(request.stage);
      if (timer.signal.aborted) {
        throw new WebscaleError('LLM_TIMEOUT', `local LLM call took longer than ${timeoutMs} ms (llm.timeout)`, {
          cause: err,
          context: { backend: 'local', stage: request.stage },
        });
      }
      throw WebscaleError.from(err, 'LLM_SERVER', { backend: 'local', stage: request.stage });
    } finally {
      if (timeout !== undefined) clearTimeout(timeout);
    }
  }

  /** Grammars compile once per schema (name plus content, in case two schemas share a name). */
  private grammarFor(spec: JsonSchemaSpec): Promise<LlamaGrammar> {
    const key = `${spec.name}\u0000${JSON.stringify(spec.schema)}`;
    let grammar = this.grammars.get(key);
    if (grammar === undefined) {
      const schema = capStrings(spec.schema, this.config.llm.local.maxStringChars) as GrammarSchema;
      grammar = this.llama.createGrammarForJsonSchema(schema).catch((err: unknown) => {
        this.grammars.delete(key);
        throw new WebscaleError('LLM_CLIENT', `cannot build a grammar from the "${spec.name}" JSON schema: ${String(err)}`, {
          cause: err,
          context: { backend: 'local', schema: spec.name },
        });
      });
      this.grammars.set(key, grammar);
    }
    return grammar;
  }

  private acquire(stage: string, signal: AbortSignal | undefined): Promise<Slot> {
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(aborted(stage));
      };
      const waiter: Waiter = {
        resolve: (s) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(s);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(slot: Slot): void {
    const next = this.waiters.shift();
    if (next !== undefined) next.resolve(slot);
    else this.free.push(slot);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new WebscaleError('LLM_ABORTED', 'local LLM client closed', { context: { backend: 'local' } }));
    }
    // Disposing the Llama instance disposes its models, contexts and grammars with it.
    await this.llama.dispose();
  }
}

/**
 * Threads when `llm.local.threads` is 0. A small model does so little work per token that
 * llama.cpp's threads spend their time waiting on each other: measured on 2 cores with SmolLM2
 * 135M, 1 thread decodes as fast as 2 when the machine is idle, and 5 to 20 times faster when other
 * processes compete for the cores (spinning threads get descheduled at every barrier).
 */
export function autoThreads(modelBytes: number): number {
  return modelBytes < SMALL_MODEL_BYTES ? 1 : Math.max(1, availableParallelism());
}

/**
 * Loads the GGUF model and returns a client for it. Throws CONFIG_INVALID when the model file is
 * missing or is not a loadable GGUF, INTERNAL when llama.cpp itself cannot start.
 */
export async function createLocalClient(config: Config): Promise<LlmClient & { readonly contextSize: number }> {
  const local = config.llm.local;
  const modelPath = resolveLocalModelPath(local.modelPath);
  let llama: Llama;
  try {
    // Only the prebuilt CPU binary from the @node-llama-cpp/* npm packages: never download or
    // compile llama.cpp at run time (the machines reach package registries only), and never
    // probe for GPU backends whose drivers are not there.
    llama = await getLlama({
      build: 'never',
      gpu: false,
      usePrebuiltBinaries: true,
      skipDownload: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.error,
    });
  } catch (err) {
    throw WebscaleError.from(err, 'INTERNAL', { backend: 'local', what: 'llama.cpp binary' });
  }
  try {
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath });
    } catch (err) {
      throw new WebscaleError('CONFIG_INVALID', `cannot load ${modelPath} as a GGUF model: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        context: { modelPath },
      });
    }
    // Never more than the model was trained on (GGUF `<arch>.context_length`): past it, quality
    // falls apart while the window would promise room that is not there.
    const context = await model.createContext({
      contextSize: Math.min(local.contextSize, model.trainContextSize > 0 ? model.trainContextSize : local.contextSize),
      sequences: local.sequences,
      threads: local.threads > 0 ? local.threads : autoThreads(model.size),
    });
    const slots: Slot[] = [];
    for (let i = 0; i < local.sequences; i++) {
      const sequence = context.getSequence();
      slots.push({ sequence, chat: new LlamaChat({ contextSequence: sequence }) });
    }
    return new LocalClient(config, llama, model, context, slots, modelPath);
  } catch (err) {
    await llama.dispose().catch(() => undefined);
    throw WebscaleError.from(err, 'INTERNAL', { backend: 'local', modelPath });
  }
}
