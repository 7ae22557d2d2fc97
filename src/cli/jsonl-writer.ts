/**
 * An append-only JSON-lines file writer that respects stream backpressure, so a slow disk slows
 * the pipeline instead of buffering without bound. `-` writes to stdout.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { WebscaleError } from '../core/errors.js';

export class JsonlWriter {
  private readonly stream: Writable;
  private readonly ownsStream: boolean;
  count = 0;

  private constructor(stream: Writable, ownsStream: boolean) {
    this.stream = stream;
    this.ownsStream = ownsStream;
  }

  /** Opens the file up front, so an unwritable path fails before any work is done. */
  static async open(path: string): Promise<JsonlWriter> {
    if (path === '-') return new JsonlWriter(process.stdout, false);
    await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
    const stream = createWriteStream(path, { flags: 'w' });
    try {
      await once(stream, 'open');
    } catch (err) {
      throw new WebscaleError('USAGE', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    return new JsonlWriter(stream, true);
  }

  async write(value: unknown): Promise<void> {
    this.count++;
    if (!this.stream.write(JSON.stringify(value) + '\n')) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (!this.ownsStream) return;
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Where rejections go when `--rejections` is not given: beside the output; nowhere for `--output -`. */
export function defaultRejectionsPath(output: string): string | null {
  // Writing a file the user did not name (into whatever folder they ran in) is worse than not
  // writing it: with stdout as the output, rejections are kept only when --rejections names a file.
  if (output === '-') return null;
  return output.replace(/(\.jsonl|\.ndjson|\.json|\.parquet)?$/i, '.rejections.jsonl');
}
