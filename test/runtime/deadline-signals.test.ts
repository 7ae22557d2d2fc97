import { describe, expect, it } from 'vitest';
import { DeadlineSignals } from '../../src/runtime/deadline-signals.js';

describe('DeadlineSignals', () => {
  it('shares one signal between deadlines of the same granule and fires at its end', async () => {
    const parent = new AbortController();
    const d = new DeadlineSignals(parent.signal, 50);
    const now = Date.now();
    const end = Math.ceil((now + 60) / 50) * 50;
    const a = d.until(end - 10, now);
    const b = d.until(end - 1, now);
    const c = d.until(end + 1, now);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, end - Date.now() + 30));
    expect(a.aborted).toBe(true);
    expect((a.reason as Error).name).toBe('TimeoutError');
    expect(parent.signal.aborted).toBe(false);
  });

  it('never fires before the deadline', async () => {
    const d = new DeadlineSignals(new AbortController().signal, 40);
    const deadline = Date.now() + 25;
    const s = d.until(deadline);
    const fired = await new Promise<number>((resolve) => s.addEventListener('abort', () => resolve(Date.now())));
    expect(fired).toBeGreaterThanOrEqual(deadline);
  });

  it('fires every slot when the parent aborts, and hands out the parent for passed deadlines', () => {
    const parent = new AbortController();
    const d = new DeadlineSignals(parent.signal, 1000);
    const now = Date.now();
    expect(d.until(now - 1, now)).toBe(parent.signal);
    const s = d.until(now + 5000, now);
    parent.abort(new Error('shutdown'));
    expect(s.aborted).toBe(true);
    expect((s.reason as Error).message).toBe('shutdown');
    expect(d.until(now + 5000, now)).toBe(parent.signal);
  });

  it('forgets slots whose end has passed', () => {
    const d = new DeadlineSignals(new AbortController().signal, 10);
    const now = 1_000_000;
    for (let i = 1; i <= 5; i++) d.until(now + i * 10, now);
    expect(d.size).toBe(5);
    d.until(now + 100, now + 30);
    expect(d.size).toBe(3); // the slots ending at +40, +50 and the new one at +100
  });
});
