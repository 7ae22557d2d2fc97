/**
 * Opens a file as a stream of its decompressed bytes: gzip through Node's zlib (which also reads
 * files of many gzip members, as WARC writes them), zstd through fzstd (Node 20's zlib has no
 * zstd; fzstd is pure JavaScript, streams, and is what hyparquet's compressors use too).
 */
import { createReadStream } from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';

export type Compression = 'gzip' | 'zstd' | null;

/** The compression a file name announces (`.gz`, `.zst`, `.zstd`), and the name without it. */
export function compressionOf(name: string): { compression: Compression; inner: string } {
  const lower = name.toLowerCase();
  if (lower.endsWith('.gz')) return { compression: 'gzip', inner: lower.slice(0, -3) };
  if (lower.endsWith('.zst')) return { compression: 'zstd', inner: lower.slice(0, -4) };
  if (lower.endsWith('.zstd')) return { compression: 'zstd', inner: lower.slice(0, -5) };
  return { compression: null, inner: lower };
}

/** A Transform around fzstd's streaming decompressor. */
export function createZstdDecompress(): Transform {
  const transform = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      try {
        decoder.push(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  const decoder = new Decompress((data) => {
    // fzstd may hand out views of its window buffer: copy before it is reused.
    transform.push(Buffer.from(data));
  });
  return transform;
}

/** The decompressed bytes of `path`; errors of the file or the codec surface on the stream. */
export function openDecompressed(path: string, compression: Compression): Readable {
  const file = createReadStream(path, { highWaterMark: 256 * 1024 });
  if (compression === null) return file;
  const codec = compression === 'gzip' ? createGunzip() : createZstdDecompress();
  file.on('error', (err) => codec.destroy(err));
  return file.pipe(codec);
}
