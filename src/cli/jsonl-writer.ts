/**
 * An append-only JSON-lines file writer that respects stream backpressure, so a slow disk slows
 * the pipeline instead of buffering without bound. `-` writes to stdout.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';

export class JsonlWriter {
  private readonly stream: Writable;
  private readonly ownsStream: boolean;
  count = 0;

  constructor(path: string) {
    this.ownsStream = path !== '-';
    this.stream = path === '-' ? process.stdout : createWriteStream(path, { flags: 'w' });
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

/** Where rejections go when `--rejections` is not given: beside the output file. */
export function defaultRejectionsPath(output: string): string {
  if (output === '-') return 'rejections.jsonl';
  return output.replace(/(\.jsonl|\.ndjson|\.json)?$/i, '.rejections.jsonl');
}
