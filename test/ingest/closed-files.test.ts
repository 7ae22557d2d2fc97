/**
 * Which files of a folder count as closed, on real files with real modification times.
 */
import { mkdtemp, rename, utimes, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClosedFiles, isTemporaryName } from '../../src/ingest/closed-files.js';

describe('ClosedFiles', () => {
  it('takes a file once it was quiet for the settle time and unchanged across two listings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-closed-'));
    const files = new ClosedFiles(dir, 1000);
    const now = Date.now();
    await writeFile(join(dir, 'old.jsonl'), '{"text": "a"}\n');
    await utimes(join(dir, 'old.jsonl'), new Date(now - 5000), new Date(now - 5000));
    await writeFile(join(dir, 'fresh.jsonl'), '{"text": "b"}\n');
    // First listing: nothing is known to be unchanged yet.
    expect(await files.closed(now)).toEqual([]);
    expect((await files.closed(now)).map((f) => f.name)).toEqual(['old.jsonl']);
    // Quiet long enough now; but a write resets it.
    await appendFile(join(dir, 'fresh.jsonl'), '{"text": "c"}\n');
    expect((await files.closed(now + 10_000)).map((f) => f.name)).toEqual(['old.jsonl']);
    expect((await files.closed(now + 10_000)).map((f) => f.name)).toEqual(['old.jsonl', 'fresh.jsonl']);
  });

  it('never takes temporary names, and takes a file renamed into place at the next listing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-closed-'));
    const files = new ClosedFiles(dir, 1000);
    const past = new Date(Date.now() - 60_000);
    for (const name of ['.hidden.jsonl', 'a.jsonl.part', 'b.warc.gz.tmp', 'c.jsonl.inprogress']) {
      await writeFile(join(dir, name), 'x');
      await utimes(join(dir, name), past, past);
    }
    await files.closed();
    expect(await files.closed()).toEqual([]);
    await rename(join(dir, 'a.jsonl.part'), join(dir, 'a.jsonl'));
    await files.closed();
    expect((await files.closed()).map((f) => f.name)).toEqual(['a.jsonl']);
  });

  it('knows the temporary names crawlers use', () => {
    expect(['x.tmp', 'x.part', 'x.PARTIAL', '.x', 'x.crdownload'].every(isTemporaryName)).toBe(true);
    expect(['x.jsonl', 'x.warc.gz', 'part.jsonl', 'x.parquet'].some(isTemporaryName)).toBe(false);
  });
});
