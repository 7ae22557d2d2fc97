/**
 * The persisted record of a batch run: which batches were submitted and which requests
 * (custom_ids) each holds, so a run that is stopped mid-batch (Ctrl-C twice, kill -9, a crash)
 * and started again collects the batches it already paid for instead of submitting them again.
 *
 * The file is append-only JSON lines, one event a line, flushed to disk (fdatasync) before the
 * step it records is taken further:
 *   {"event":"submitting","file_id":"file-1","custom_ids":["r...", ...],"at":...}  input uploaded
 *   {"event":"submitted","file_id":"file-1","batch_id":"batch_1","at":...}        batch created
 *   {"event":"collected","batch_id":"batch_1","status":"completed","at":...}      results read
 * Appending keeps each write as small as the batch it records, where rewriting a JSON document
 * would cost the whole run's ids on every batch. A torn last line (a crash mid-write) is ignored:
 * its step was never taken further. A `submitting` without its `submitted` is a batch whose
 * creation may or may not have reached the provider; the caller looks it up by its input file.
 */
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { WebscaleError } from '../../core/errors.js';

export interface PersistedBatch {
  fileId: string;
  /** Undefined while only the upload is known (see the module comment). */
  batchId: string | undefined;
  customIds: string[];
  /** Set once its results were read in some run. */
  collected: boolean;
}

export type StateEvent =
  | { event: 'submitting'; file_id: string; custom_ids: string[]; at: number }
  | { event: 'submitted'; file_id: string; batch_id: string; at: number }
  | { event: 'collected'; batch_id: string; status: string; at: number };

export function parseEvent(line: string): StateEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  switch (v['event']) {
    case 'submitting':
      if (typeof v['file_id'] === 'string' && Array.isArray(v['custom_ids']) && v['custom_ids'].every((c) => typeof c === 'string')) {
        return { event: 'submitting', file_id: v['file_id'], custom_ids: v['custom_ids'] as string[], at: Number(v['at']) };
      }
      return undefined;
    case 'submitted':
      if (typeof v['file_id'] === 'string' && typeof v['batch_id'] === 'string') {
        return { event: 'submitted', file_id: v['file_id'], batch_id: v['batch_id'], at: Number(v['at']) };
      }
      return undefined;
    case 'collected':
      if (typeof v['batch_id'] === 'string') return { event: 'collected', batch_id: v['batch_id'], status: String(v['status']), at: Number(v['at']) };
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Where the batch ids of a run are kept: a file beside the output (`run --batch`) or a compacted
 * topic (`stage <generate|check> --batch`, `kafka-state.ts`). Both replay the same events into the
 * same index; only where an event is written differs.
 */
export abstract class BatchStateStore {
  /** Batches of earlier runs (or other workers), by input file id, in submission order. */
  private readonly earlier = new Map<string, PersistedBatch>();
  /** custom_id -> input file id of the earlier batch that holds it. */
  private readonly earlierIndex = new Map<string, string>();

  /** Where the state is kept, for messages (a file path, or `topic <name>`). */
  abstract readonly path: string;
  protected abstract append(event: StateEvent): Promise<void>;
  abstract close(options?: { remove?: boolean }): Promise<void>;

  /** Apply an event read back from storage; a `submitting` split into chunks adds up. */
  protected replay(event: StateEvent): void {
    switch (event.event) {
      case 'submitting': {
        let batch = this.earlier.get(event.file_id);
        if (batch === undefined) {
          batch = { fileId: event.file_id, batchId: undefined, customIds: [], collected: false };
          this.earlier.set(event.file_id, batch);
        }
        // Read twice (a reader that starts over), a chunk adds nothing.
        for (const id of event.custom_ids) {
          if (this.earlierIndex.get(id) === event.file_id) continue;
          batch.customIds.push(id);
          this.earlierIndex.set(id, event.file_id);
        }
        return;
      }
      case 'submitted': {
        const batch = this.earlier.get(event.file_id);
        if (batch !== undefined) batch.batchId = event.batch_id;
        return;
      }
      case 'collected': {
        for (const batch of this.earlier.values()) if (batch.batchId === event.batch_id) batch.collected = true;
        return;
      }
    }
  }

  /** Batches earlier runs submitted (or began to), oldest first. */
  earlierBatches(): PersistedBatch[] {
    return [...this.earlier.values()];
  }

  /** The earlier batch holding this request, if any. */
  earlierBatchOf(customId: string): PersistedBatch | undefined {
    const fileId = this.earlierIndex.get(customId);
    return fileId === undefined ? undefined : this.earlier.get(fileId);
  }

  /** Record that an earlier `submitting` led to this batch (found by its input file), or to none. */
  async adopt(fileId: string, batchId: string | undefined): Promise<void> {
    const batch = this.earlier.get(fileId);
    if (batch === undefined) return;
    if (batchId === undefined) {
      // Never created: its requests are new work for this run.
      for (const id of batch.customIds) if (this.earlierIndex.get(id) === fileId) this.earlierIndex.delete(id);
      this.earlier.delete(fileId);
      return;
    }
    batch.batchId = batchId;
    await this.append({ event: 'submitted', file_id: fileId, batch_id: batchId, at: Date.now() });
  }

  submitting(fileId: string, customIds: string[]): Promise<void> {
    return this.append({ event: 'submitting', file_id: fileId, custom_ids: customIds, at: Date.now() });
  }

  submitted(fileId: string, batchId: string): Promise<void> {
    return this.append({ event: 'submitted', file_id: fileId, batch_id: batchId, at: Date.now() });
  }

  collected(batchId: string, status: string): Promise<void> {
    return this.append({ event: 'collected', batch_id: batchId, status, at: Date.now() });
  }
}

/** The state of `run --batch`: append-only JSON lines in a file beside the output. */
export class BatchStateLog extends BatchStateStore {
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {
    super();
  }

  /** Open (creating when missing) the state file and read what earlier runs left in it. */
  static async open(path: string): Promise<BatchStateLog> {
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new WebscaleError('CONFIG_INVALID', `cannot read the batch state file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
      }
    }
    let handle: FileHandle;
    try {
      handle = await open(path, 'a');
    } catch (err) {
      throw new WebscaleError('CONFIG_INVALID', `cannot write the batch state file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; name a writable file with --batch-state`, {
        cause: err,
      });
    }
    const log = new BatchStateLog(path, handle);
    // A torn last line (no newline) is dropped, and the next append starts on a line of its own.
    if (text !== '' && !text.endsWith('\n')) await handle.write('\n');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const event = parseEvent(line);
      if (event !== undefined) log.replay(event);
    }
    return log;
  }

  protected append(event: StateEvent): Promise<void> {
    const line = JSON.stringify(event) + '\n';
    const next = this.chain.then(async () => {
      await this.handle.write(line);
      await this.handle.datasync();
    });
    // One failed write fails its caller; later writes still run.
    this.chain = next.catch(() => undefined);
    return next.catch((err: unknown) => {
      throw new WebscaleError('INTERNAL', `cannot write the batch state file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    });
  }

  async close(options: { remove?: boolean } = {}): Promise<void> {
    await this.chain;
    await this.handle.close();
    if (options.remove === true) await rm(this.path, { force: true });
  }
}
