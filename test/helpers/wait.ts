/**
 * Test helpers: waiting. One polling contract for every suite: `waitFor` resolves with the probe's
 * first truthy value, or fails saying what was awaited and, when given, what was seen instead.
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** What the state looks like now, for the failure message ("timed out" alone is useless). */
  seen?: () => string | Promise<string>;
  /** Between probes. Default 50 ms. */
  everyMs?: number;
}

/** Polls `probe` until it returns something truthy; fails after `timeoutMs` with what and what was seen. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 10_000,
  opts: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() >= deadline) {
      const s = opts.seen ? await Promise.resolve(opts.seen()).catch((e: unknown) => `(could not inspect: ${String(e)})`) : '';
      throw new Error(`${what} did not happen within ${timeoutMs} ms${s ? `; ${s}` : ''}`);
    }
    await sleep(opts.everyMs ?? 50);
  }
}

/** Resolves when `p` settles or after `ms`, whichever is first, leaving no timer behind. */
export async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** What `fn` throws (undefined when it does not), to assert on an error's code and context. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
