/**
 * The follower's progress: per file, how many records (documents and rejections, in the reader's
 * order) are in `docs.raw`/`rejections` already, and whether the file is done. Kept in a compacted
 * topic keyed by follower name and file name, and written in the same transaction as the records
 * it counts, so what the topic says is exactly what read_committed consumers see. Values are JSON:
 * the topic is the follower's own bookkeeping, not a pipeline record.
 */
import type { Admin, Kafka } from 'kafkajs';
import { ensureTopic, readToEnd } from '../kafka/index.js';

export interface FileProgress {
  follower: string;
  file: string;
  /** Records of the file committed so far (the first `records` the reader yields). */
  records: number;
  done: boolean;
  /** Size and modification time when the file was read, to notice a file changed afterwards. */
  size: number;
  mtime_ms: number;
  /** Why the reader stopped early, when it did. */
  error?: string;
  updated_at: number;
}

export function progressKey(follower: string, file: string): string {
  return `${follower}|${file}`;
}

export function parseProgress(value: Buffer | null): FileProgress | null {
  if (value === null) return null;
  try {
    const p = JSON.parse(value.toString('utf8')) as Partial<FileProgress>;
    if (typeof p.follower !== 'string' || typeof p.file !== 'string' || typeof p.records !== 'number' || typeof p.done !== 'boolean') return null;
    return p as FileProgress;
  } catch {
    return null;
  }
}

/** Creates the compacted progress topic when it does not exist (one partition: it is small). */
export async function ensureProgressTopic(admin: Admin, topic: string): Promise<void> {
  await ensureTopic(admin, { topic, partitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }], what: 'progress topic' });
}

/** This follower's progress for the files in `keep` (others are of files gone from the folder). */
export async function loadProgress(kafka: Kafka, topic: string, follower: string, keep: ReadonlySet<string>, groupPrefix: string): Promise<Map<string, FileProgress>> {
  const progress = new Map<string, FileProgress>();
  await readToEnd(
    kafka,
    topic,
    (m) => {
      const p = parseProgress(m.value);
      if (p && p.follower === follower && keep.has(p.file)) progress.set(p.file, p);
    },
    { groupPrefix },
  );
  return progress;
}
