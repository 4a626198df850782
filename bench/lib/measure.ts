// Timing helpers: wall-clock seconds, medians, and waiting for the machine
// to go quiet between measurements (the kernel finishes tearing down
// namespaces and devices in the background: RCU callbacks, workqueues).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const now = (): number => performance.now() / 1000;

export async function timed<T>(fn: () => Promise<T> | T): Promise<{ s: number; value: T }> {
  const t = now();
  const value = await fn();
  return { s: now() - t, value };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

function cpuTimes(): { idle: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3]! + (v[4] ?? 0);
  return { idle, total: v.reduce((a, b) => a + b, 0) };
}

/** CPU seconds all CPUs spent busy (user, system, softirq, kernel threads) since boot. */
export function cpuBusySeconds(): number {
  const t = cpuTimes();
  return (t.total - t.idle) / 100; // USER_HZ
}

/**
 * Wait until all CPUs are at least `idle` idle over a 250 ms window, at most
 * `maxS` seconds. Returns false when the machine never went quiet (someone
 * else is busy): the measurement then runs anyway and the caller says so.
 */
export async function settle(idle = 0.85, maxS = 8): Promise<boolean> {
  const end = now() + maxS;
  await sleep(200);
  while (now() < end) {
    const a = cpuTimes();
    await sleep(250);
    const b = cpuTimes();
    if ((b.idle - a.idle) / Math.max(1, b.total - a.total) >= idle) return true;
  }
  return false;
}

export const log = (msg: string): void => { process.stderr.write(`${msg}\n`); };
