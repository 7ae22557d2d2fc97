/**
 * Which files of a folder a crawler has finished writing. A file is closed when its name is not a
 * temporary one and its size and modification time have stayed the same for `settle` and across
 * two listings. That covers both ways crawlers write: into a temporary name renamed into place
 * when done (the rename keeps the old modification time, so the file is taken at the next
 * listing), and in place (the file is taken once it has been quiet for `settle`). A `.done`
 * marker would need every crawler to write one; inotify sees nothing that happened while the
 * follower was down and is unreliable on network file systems, so the folder is listed instead.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Names crawlers and copy tools give files still being written. */
const TEMPORARY = /(^\.|\.(tmp|temp|part|partial|inprogress|crdownload|swp)$)/i;

export function isTemporaryName(name: string): boolean {
  return TEMPORARY.test(name);
}

export interface FileSeen {
  /** Name inside the folder: the file's identity in the progress topic. */
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export class ClosedFiles {
  /** What each file looked like at the previous listing. */
  private previous = new Map<string, { size: number; mtimeMs: number }>();

  constructor(
    private readonly dir: string,
    private readonly settleMs: number,
  ) {}

  /** Every regular file listed now (temporary names excluded), closed or not. */
  async list(): Promise<FileSeen[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const files: FileSeen[] = [];
    for (const e of entries) {
      if (!e.isFile() || isTemporaryName(e.name)) continue;
      const path = join(this.dir, e.name);
      try {
        const s = await stat(path);
        files.push({ name: e.name, path, size: s.size, mtimeMs: s.mtimeMs });
      } catch {
        // renamed or removed between the listing and the stat: the next listing decides
      }
    }
    return files;
  }

  /** Every file present now, and those closed, oldest first; remembers this listing for the next call. */
  async scan(now = Date.now()): Promise<{ present: Set<string>; closed: FileSeen[] }> {
    const files = await this.list();
    const previous = this.previous;
    this.previous = new Map(files.map((f) => [f.name, { size: f.size, mtimeMs: f.mtimeMs }]));
    const closed = files
      .filter((f) => {
        const before = previous.get(f.name);
        return before !== undefined && before.size === f.size && before.mtimeMs === f.mtimeMs && now - f.mtimeMs >= this.settleMs;
      })
      .sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { present: new Set(files.map((f) => f.name)), closed };
  }

  /** The files closed now, oldest first. */
  async closed(now = Date.now()): Promise<FileSeen[]> {
    return (await this.scan(now)).closed;
  }
}
