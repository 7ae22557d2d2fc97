/**
 * A commit's messages split into produce requests small enough for any partition's record batch
 * limit; order within a topic is kept.
 */
import type { Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { produceRequests } from '../../src/runtime/partition-owner.js';

const msg = (i: number, bytes: number): Message => ({ key: `k${i}`, value: Buffer.alloc(bytes, 97) });

describe('produceRequests', () => {
  it('keeps each request under the byte budget, a larger message alone, and the order', () => {
    const byTopic = new Map<string, Message[]>([
      ['docs', Array.from({ length: 10 }, (_, i) => msg(i, 300_000))],
      ['rejections', [msg(100, 10), msg(101, 5_000_000)]],
    ]);
    const requests = produceRequests(byTopic, 1024 * 1024);
    const sizes = requests.map((r) => r.reduce((n, t) => n + t.messages.reduce((m, x) => m + (x.value as Buffer).length, 0), 0));
    expect(sizes.filter((s) => s > 1024 * 1024)).toEqual([5_000_000]);
    const flat = requests.flatMap((r) => r.flatMap((t) => t.messages.map((m) => `${t.topic}:${String(m.key)}`)));
    expect(flat).toEqual([...byTopic].flatMap(([t, ms]) => ms.map((m) => `${t}:${String(m.key)}`)));
  });

  it('sends nothing for nothing', () => {
    expect(produceRequests(new Map())).toEqual([]);
  });
});
