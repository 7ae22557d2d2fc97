/**
 * Test doubles for the stage tests: a scripted in-memory LLM client (queued replies, recorded
 * requests), a router over one client per stage, and builders for config, context and records.
 */
import { pino } from 'pino';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { LLM_STAGES, type DocumentRecord, type LlmStage } from '../../src/core/records.js';
import type { LlmClient, LlmCompletion, LlmRequest, LlmRouter } from '../../src/llm/types.js';
import { Decontaminator } from '../../src/stages/decontaminate.js';
import { FewshotLibrary } from '../../src/stages/fewshot.js';
import type { StageContext } from '../../src/stages/types.js';

/** A reply: raw text, an object (sent as JSON), an error to throw, or a function of the request. */
export type Reply = string | Record<string, unknown> | Error | ((req: LlmRequest) => string | Record<string, unknown>);

export const USAGE_PER_CALL = { prompt_tokens: 100, completion_tokens: 20 };

export class ScriptedClient implements LlmClient {
  readonly backend = 'scripted';
  readonly requests: LlmRequest[] = [];
  private readonly queue: Reply[] = [];

  constructor(readonly model: string) {}

  reply(...replies: Reply[]): this {
    this.queue.push(...replies);
    return this;
  }

  async complete(request: LlmRequest): Promise<LlmCompletion> {
    // structuredCall appends re-ask turns to its array: keep a copy of what was sent this time.
    this.requests.push({ ...request, messages: request.messages.map((m) => ({ ...m })) });
    const next = this.queue.shift();
    if (next === undefined) throw new Error(`scripted ${this.model}: no reply queued`);
    if (next instanceof Error) throw next;
    const value = typeof next === 'function' ? next(request) : next;
    return {
      text: typeof value === 'string' ? value : JSON.stringify(value),
      model: this.model,
      usage: { ...USAGE_PER_CALL },
      finishReason: 'stop',
    };
  }

  async close(): Promise<void> {}
}

export class ScriptedRouter implements LlmRouter {
  readonly clients: Record<LlmStage, ScriptedClient>;

  constructor() {
    this.clients = Object.fromEntries(LLM_STAGES.map((s) => [s, new ScriptedClient(`model-${s}`)])) as Record<
      LlmStage,
      ScriptedClient
    >;
  }

  forStage(stage: LlmStage): ScriptedClient {
    return this.clients[stage];
  }

  get totalRequests(): number {
    return LLM_STAGES.reduce((n, s) => n + this.clients[s].requests.length, 0);
  }

  async close(): Promise<void> {}
}

export function makeConfig(input: ConfigInput = {}): Config {
  return configSchema.parse(input);
}

export interface CtxOptions {
  router?: ScriptedRouter;
  config?: Config;
  fewshot?: FewshotLibrary;
  decontaminator?: Decontaminator;
}

export function makeCtx(options: CtxOptions = {}): StageContext & { router: ScriptedRouter } {
  const router = options.router ?? new ScriptedRouter();
  return {
    router,
    llm: router,
    logger: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    config: options.config ?? makeConfig(),
    fewshot: options.fewshot ?? FewshotLibrary.empty(),
    decontaminator: options.decontaminator ?? Decontaminator.empty(),
  };
}

/** A realistic informative document well above the 50-token minimum. */
export const PROSE = `The Rhine is one of the major rivers of Europe. It rises in the Swiss Alps, near the Oberalp Pass, and flows
for about 1,230 kilometres through Switzerland, Liechtenstein, Austria, Germany, France and the Netherlands before
reaching the North Sea near Rotterdam. Along the way it passes through Lake Constance and over the Rhine Falls at
Schaffhausen, the most powerful waterfall in Europe by volume. For centuries the river has been a key trade route:
barges carry coal, grain, chemicals and containers between the port of Rotterdam and the industrial Ruhr area.
The Central Commission for the Navigation of the Rhine, founded in 1815 at the Congress of Vienna, is the oldest
international organisation still in existence.`;

export function makeDoc(text: string = PROSE, id = 'doc-1'): DocumentRecord {
  return { id, text, url: 'https://example.org/rhine', source: 'test', ingested_at: 1_700_000_000_000 };
}

/** The text of the user message of a request (the stages send exactly one). */
export function userText(req: LlmRequest | undefined): string {
  return req?.messages.find((m) => m.role === 'user')?.content ?? '';
}
