// Polling until a condition holds, for tests that wait on processes, the
// kernel or the network: `within` says whether it came true in time,
// `waitFor` throws when it did not.
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `ok` every `everyMs` until it holds (true) or `timeoutMs` have passed (false); checked at least once. */
export async function within(ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** As `within`, but throws `timed out after N ms waiting for WHAT` when `ok` did not come true in time. */
export async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  if (!(await within(ok, timeoutMs, everyMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
