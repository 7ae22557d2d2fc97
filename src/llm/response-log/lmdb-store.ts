/**
 * The response log of `run`: an LMDB file beside the output (the `lmdb` package: a memory-mapped
 * B-tree with its prebuilt binary shipped in the npm package). Keys are the 32 bytes of the
 * SHA-256 key, values msgpack with LMDB's own compression of large values. Reads are synchronous
 * lookups in the map; writes are batched by lmdb into one transaction per event-loop turn, and
 * `put` resolves once its transaction has committed, so a completion is used only after it is in
 * the file: a process killed at any moment (kill -9 included) keeps every answer it used.
 * With `sync` off the commit is not flushed to the disk (a power loss may lose the last commits);
 * with it on, each commit waits for an fsync.
 *
 * Memory: the map is the operating system's page cache, not the process heap; the store can grow
 * far past RAM.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { WebscaleError } from '../../core/errors.js';
import type { LoggedResponse, ResponseStore } from './store.js';

export interface LmdbStoreOptions {
  path: string;
  sync?: boolean;
}

export class LmdbResponseStore implements ResponseStore {
  readonly kind = 'lmdb';
  private constructor(
    private readonly db: RootDatabase<LoggedResponse, Buffer>,
    readonly path: string,
  ) {}

  static open(options: LmdbStoreOptions): LmdbResponseStore {
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      const db = open<LoggedResponse, Buffer>({
        path: options.path,
        keyEncoding: 'binary',
        encoding: 'msgpack',
        compression: true,
        noSync: options.sync !== true,
      });
      return new LmdbResponseStore(db, options.path);
    } catch (err) {
      throw new WebscaleError('USAGE', `cannot open the LLM response log ${options.path}: ${(err as Error).message}; set llm.responseLog.path, or llm.responseLog.enabled: false`, { cause: err });
    }
  }

  get(key: string): Promise<LoggedResponse | undefined> {
    return Promise.resolve(this.db.get(Buffer.from(key, 'hex')));
  }

  async put(key: string, value: LoggedResponse): Promise<void> {
    await this.db.put(Buffer.from(key, 'hex'), value);
  }

  /** Entries in the file (a count over the whole map: for tests and reports). */
  count(): number {
    return this.db.getCount();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
