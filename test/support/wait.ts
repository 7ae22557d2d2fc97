/** Polling for tests that wait on a broker, a process or a file. */

/** Polls `probe` until it returns true or the time is up. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * What `read` returns once it holds at least `atLeast` items (or when `timeoutMs` is up: then the
 * caller's assertion shows what is there), read again after `settleMs`. A read_committed read right
 * after a commit can come before its markers move the last stable offset; the second read lets an
 * item that should not be there (a duplicate, a leaked aborted record) show up too.
 */
export async function readOnceShown<T>(what: string, read: () => Promise<T[]>, atLeast: number, opts: { timeoutMs: number; everyMs: number; settleMs: number }): Promise<T[]> {
  await waitFor(what, async () => (await read()).length >= atLeast, opts.timeoutMs, opts.everyMs).catch(() => undefined);
  if (opts.settleMs > 0) await new Promise((r) => setTimeout(r, opts.settleMs));
  return read();
}
