/**
 * Splits a byte stream into lines without ever holding more than `maxBytes` of one line: a line
 * that grows past the cap is dropped as it streams (its bytes are counted, not kept) and comes
 * out as a marker, so a 200 MB line costs a counter, not 200 MB of heap.
 */
import type { Readable } from 'node:stream';

/** A line longer than the cap: only its size is known. */
export interface OversizeLine {
  oversize: true;
  bytes: number;
}

export type BoundedLine = Buffer | OversizeLine;

export function isOversize(line: BoundedLine): line is OversizeLine {
  return !Buffer.isBuffer(line);
}

function stripCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line;
}

/** Lines without their newline (a trailing CR is dropped too); `maxBytes` caps one line. */
export async function* boundedLines(stream: AsyncIterable<Uint8Array> | Readable, maxBytes = Infinity): AsyncGenerator<BoundedLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overflow = false;

  const take = (segment: Buffer): void => {
    pendingBytes += segment.length;
    if (overflow) return;
    if (pendingBytes > maxBytes) {
      overflow = true;
      pending = [];
      return;
    }
    // A copy, so a line does not pin the whole read chunk it started in.
    if (segment.length > 0) pending.push(Buffer.from(segment));
  };
  const finish = (): BoundedLine => {
    const line: BoundedLine = overflow ? { oversize: true, bytes: pendingBytes } : stripCr(pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending));
    pending = [];
    pendingBytes = 0;
    overflow = false;
    return line;
  };

  for await (const raw of stream as AsyncIterable<Uint8Array>) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let start = 0;
    let nl = chunk.indexOf(10, start);
    while (nl >= 0) {
      const segment = chunk.subarray(start, nl);
      if (pending.length === 0 && !overflow && segment.length <= maxBytes) {
        yield stripCr(segment);
      } else {
        take(segment);
        yield finish();
      }
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) take(chunk.subarray(start));
  }
  if (pendingBytes > 0) {
    const last = finish();
    if (isOversize(last) || last.length > 0) yield last;
  }
}
