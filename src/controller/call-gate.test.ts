// CallGate: at most `limit` calls per key at once, the rest in order, a
// refusal naming the limit when too many wait, keys independent, and a
// failing call gives its slot on.
import { describe, expect, it } from 'vitest';
import { LimitExceededError } from '../errors.js';
import { CallGate } from './limits.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CallGate', () => {
  it('runs at most `limit` calls of a key at once, the others in the order they came', async () => {
    const g = new CallGate(2);
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => deferred());
    const calls = gates.map((d, i) => g.run('am-a', async () => { started.push(i); await d.promise; return i; }));
    for (const c of calls) c.catch(() => undefined); // settled below
    await tick();
    expect(started).toEqual([0, 1]);
    expect(g.load('am-a')).toEqual({ running: 2, waiting: 3 });
    gates[1]!.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.reject(new Error('boom')); // a failing call passes its slot on too
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const d of gates) d.resolve();
    const results = await Promise.allSettled(calls);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(g.load('am-a')).toEqual({ running: 0, waiting: 0 });
  });

  it('keys are independent: another AM runs while one is at its limit', async () => {
    const g = new CallGate(1);
    const hold = deferred();
    const a = g.run('am-a', () => hold.promise);
    const queued = g.run('am-a', async () => 'a2');
    expect(await g.run('am-b', async () => 'b')).toBe('b');
    hold.resolve();
    await a;
    expect(await queued).toBe('a2');
  });

  it('refuses a call beyond the waiting room, naming limits.calls_per_am', async () => {
    const g = new CallGate(1);
    const hold = deferred();
    const running = g.run('am-a', () => hold.promise);
    const waiting = Array.from({ length: CallGate.WAITING_FACTOR }, () => g.run('am-a', async () => undefined));
    const err = await g.run('am-a', async () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as Error).message).toMatch(/^limits\.calls_per_am: 1 of your calls are running and 16 waiting/);
    hold.resolve();
    await Promise.all([running, ...waiting]);
  });
});
