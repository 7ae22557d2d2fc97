/**
 * The OpenAI Batch and Files endpoints for the stand-in LLM server (`stand-in-llm.ts` routes
 * `/v1/files` and `/v1/batches` here):
 *   POST /v1/files (multipart/form-data, purpose=batch, file)      -> a File object
 *   GET  /v1/files/{id}/content                                   -> the file's bytes
 *   POST /v1/batches {input_file_id, endpoint, completion_window}  -> a Batch object (validating)
 *   GET  /v1/batches/{id}                                         -> the Batch object
 *   GET  /v1/batches?limit=&after=                                -> a list, newest first
 * A batch moves one status per poll: validating -> in_progress -> finalizing -> completed (or
 * expired / failed, as scripted), and stays in_progress while `hold(true)`. Its lines are
 * answered by the same function as the online path, so a batch answers exactly what online calls
 * would. Switches, one script per created batch (`script(...)`): `expireAfter: n` (the batch
 * expires with only its first n lines answered; the rest are `batch_expired` lines in the error
 * file), `failLines: n` (its first n lines fail with a 500 in the error file), `failValidation`
 * (status failed with a validation error, no files; `errorCode: 'token_limit_exceeded'` makes it
 * the refusal of a full batch queue). A line whose request holds `[[batchfail]]`
 * fails with a 500 in every batch (and is answered normally online).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface StandInBatchScript {
  expireAfter?: number;
  failLines?: number;
  failValidation?: boolean;
  /** With failValidation: the error code (default `invalid_request`; `token_limit_exceeded` = the model's batch queue is full). */
  errorCode?: string;
}

export interface StandInBatchRecord {
  id: string;
  inputFileId: string;
  customIds: string[];
  status: string;
  polls: number;
}

export interface StandInBatches {
  /** Scripts for the next created batches, one each, in order. */
  script(...scripts: StandInBatchScript[]): void;
  /** While on, batches stay in_progress however often they are polled. */
  hold(on: boolean): void;
  /** Batches created so far, oldest first. */
  created(): StandInBatchRecord[];
  /** Files uploaded (purpose batch), and downloads of result files. */
  stats(): { uploads: number; downloads: number; creates: number };
}

/** How the server answers one chat request body: status and JSON body, as online. */
export type LineAnswer = (body: Record<string, unknown>) => { status: number; body: unknown };

interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  content: string;
  createdAt: number;
}

interface BatchState {
  record: StandInBatchRecord;
  script: StandInBatchScript;
  endpoint: string;
  completionWindow: string;
  createdAt: number;
  metadata: unknown;
  outputFileId: string | null;
  errorFileId: string | null;
  counts: { total: number; completed: number; failed: number };
  errors: { object: 'list'; data: { code: string; message: string; param: string | null; line: number | null }[] } | null;
  lines: { custom_id: string; body: Record<string, unknown>; url: string }[];
}

export function createBatchEndpoints(answer: LineAnswer): {
  handle(req: IncomingMessage, res: ServerResponse, path: string, raw: Buffer, send: (status: number, payload: unknown) => void): boolean;
  control: StandInBatches;
} {
  const files = new Map<string, StoredFile>();
  const batches = new Map<string, BatchState>();
  const scripts: StandInBatchScript[] = [];
  let held = false;
  let fileSeq = 0;
  let batchSeq = 0;
  let reqSeq = 0;
  let uploads = 0;
  let downloads = 0;
  let creates = 0;

  const error = (message: string, type = 'invalid_request_error'): unknown => ({ error: { message, type, param: null, code: null } });

  const storeFile = (content: string, filename: string, purpose: string): StoredFile => {
    const file = { id: `file-standin-${++fileSeq}`, filename, purpose, content, createdAt: Math.floor(Date.now() / 1000) };
    files.set(file.id, file);
    return file;
  };

  const fileObject = (f: StoredFile): unknown => ({
    id: f.id,
    object: 'file',
    bytes: Buffer.byteLength(f.content),
    created_at: f.createdAt,
    filename: f.filename,
    purpose: f.purpose,
  });

  const batchObject = (b: BatchState): unknown => ({
    id: b.record.id,
    object: 'batch',
    endpoint: b.endpoint,
    errors: b.errors,
    input_file_id: b.record.inputFileId,
    completion_window: b.completionWindow,
    status: b.record.status,
    output_file_id: b.outputFileId,
    error_file_id: b.errorFileId,
    created_at: b.createdAt,
    in_progress_at: null,
    expires_at: b.createdAt + 86_400,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: b.counts,
    metadata: b.metadata,
  });

  /** Run the batch's lines and write its output and error files, as the provider does at the end. */
  const finish = (b: BatchState): void => {
    const out: string[] = [];
    const errs: string[] = [];
    const expireAfter = b.script.expireAfter;
    b.lines.forEach((line, index) => {
      const id = `batch_req_standin_${++reqSeq}`;
      if (expireAfter !== undefined && index >= expireAfter) {
        errs.push(JSON.stringify({ id, custom_id: line.custom_id, response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } }));
        return;
      }
      const forced = index < (b.script.failLines ?? 0) || JSON.stringify(line.body).includes('[[batchfail]]');
      const result = forced ? { status: 500, body: error('The server had an error processing your request.', 'server_error') } : answer(line.body);
      const entry = JSON.stringify({ id, custom_id: line.custom_id, response: { status_code: result.status, request_id: `req_standin_${reqSeq}`, body: result.body }, error: null });
      if (result.status === 200) out.push(entry);
      else errs.push(entry);
    });
    b.counts = { total: b.lines.length, completed: out.length, failed: errs.length - (expireAfter === undefined ? 0 : Math.max(0, b.lines.length - expireAfter)) };
    if (out.length > 0) b.outputFileId = storeFile(out.join('\n') + '\n', `${b.record.id}_output.jsonl`, 'batch_output').id;
    if (errs.length > 0) b.errorFileId = storeFile(errs.join('\n') + '\n', `${b.record.id}_error.jsonl`, 'batch_output').id;
    b.record.status = expireAfter !== undefined && expireAfter < b.lines.length ? 'expired' : 'completed';
  };

  const advance = (b: BatchState): void => {
    b.record.polls++;
    switch (b.record.status) {
      case 'validating':
        if (b.script.failValidation === true) {
          b.record.status = 'failed';
          const code = b.script.errorCode ?? 'invalid_request';
          const message = code === 'token_limit_exceeded' ? 'Enqueued token limit reached for stand-in in organization org-standin.' : 'stand-in: this batch failed validation';
          b.errors = { object: 'list', data: [{ code, message, param: null, line: code === 'token_limit_exceeded' ? null : 1 }] };
        } else b.record.status = 'in_progress';
        return;
      case 'in_progress':
        if (!held) b.record.status = 'finalizing';
        return;
      case 'finalizing':
        finish(b);
        return;
      default:
        return;
    }
  };

  const createBatch = (body: Record<string, unknown>, send: (status: number, payload: unknown) => void): void => {
    const fileId = body['input_file_id'];
    const file = typeof fileId === 'string' ? files.get(fileId) : undefined;
    if (file === undefined) return send(400, error(`No such File object: ${String(fileId)}`));
    if (file.purpose !== 'batch') return send(400, error('the input file must have purpose batch'));
    if (body['endpoint'] !== '/v1/chat/completions') return send(400, error(`unsupported endpoint ${String(body['endpoint'])}`));
    if (body['completion_window'] !== '24h') return send(400, error(`completion_window must be 24h, got ${String(body['completion_window'])}`));
    const lines: BatchState['lines'] = [];
    const seen = new Set<string>();
    for (const [n, text] of file.content.split('\n').entries()) {
      if (text.trim() === '') continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return send(400, error(`line ${n + 1} of the input file is not JSON`));
      }
      const customId = parsed['custom_id'];
      if (typeof customId !== 'string' || customId.length > 64 || seen.has(customId)) return send(400, error(`line ${n + 1}: custom_id missing, too long or repeated`));
      if (parsed['method'] !== 'POST' || parsed['url'] !== '/v1/chat/completions' || typeof parsed['body'] !== 'object') {
        return send(400, error(`line ${n + 1}: method, url or body is wrong`));
      }
      seen.add(customId);
      lines.push({ custom_id: customId, body: parsed['body'] as Record<string, unknown>, url: parsed['url'] });
    }
    creates++;
    const id = `batch_standin_${++batchSeq}`;
    const state: BatchState = {
      record: { id, inputFileId: file.id, customIds: lines.map((l) => l.custom_id), status: 'validating', polls: 0 },
      script: scripts.shift() ?? {},
      endpoint: '/v1/chat/completions',
      completionWindow: '24h',
      createdAt: Math.floor(Date.now() / 1000),
      metadata: body['metadata'] ?? null,
      outputFileId: null,
      errorFileId: null,
      counts: { total: lines.length, completed: 0, failed: 0 },
      errors: null,
      lines,
    };
    batches.set(id, state);
    send(200, batchObject(state));
  };

  return {
    handle(req, res, path, raw, send) {
      const method = req.method ?? 'GET';
      if (method === 'POST' && path === '/v1/files') {
        const contentType = String(req.headers['content-type'] ?? '');
        void new Request('http://stand-in/', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(raw) })
          .formData()
          .then(async (form) => {
            const purpose = form.get('purpose');
            const file = form.get('file');
            if (purpose !== 'batch' || file === null || typeof file === 'string') return send(400, error('expected multipart fields purpose=batch and file'));
            uploads++;
            send(200, fileObject(storeFile(await file.text(), file.name, 'batch')));
          })
          .catch(() => send(400, error('the body is not multipart/form-data')));
        return true;
      }
      const content = /^\/v1\/files\/([^/]+)\/content$/.exec(path);
      if (method === 'GET' && content !== null) {
        const file = files.get(decodeURIComponent(content[1] ?? ''));
        if (file === undefined) {
          send(404, error('No such File object'));
          return true;
        }
        downloads++;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(file.content) });
        res.end(file.content);
        return true;
      }
      if (method === 'POST' && path === '/v1/batches') {
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          body = undefined;
        }
        if (typeof body !== 'object' || body === null) send(400, error('body must be a JSON object'));
        else createBatch(body as Record<string, unknown>, send);
        return true;
      }
      if (method === 'GET' && path === '/v1/batches') {
        const query = new URL(req.url ?? '/', 'http://stand-in').searchParams;
        const limit = Math.max(1, Math.min(100, Number(query.get('limit') ?? 20)));
        const all = [...batches.values()].reverse();
        const after = query.get('after');
        const start = after === null ? 0 : all.findIndex((b) => b.record.id === after) + 1;
        const page = all.slice(start, start + limit);
        send(200, {
          object: 'list',
          data: page.map(batchObject),
          first_id: page[0]?.record.id ?? null,
          last_id: page[page.length - 1]?.record.id ?? null,
          has_more: start + limit < all.length,
        });
        return true;
      }
      const one = /^\/v1\/batches\/([^/]+)$/.exec(path);
      if (method === 'GET' && one !== null) {
        const b = batches.get(decodeURIComponent(one[1] ?? ''));
        if (b === undefined) {
          send(404, error('No such Batch object'));
          return true;
        }
        advance(b);
        send(200, batchObject(b));
        return true;
      }
      return false;
    },
    control: {
      script(...more) {
        scripts.push(...more);
      },
      hold(on) {
        held = on;
      },
      created: () => [...batches.values()].map((b) => ({ ...b.record, customIds: [...b.record.customIds] })),
      stats: () => ({ uploads, downloads, creates }),
    },
  };
}
