// callSignal: a call's end as an AbortSignal whose reason is a CancelledError.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../errors.js';
import { callSignal } from './call-signal.js';

const call = (extra: { deadline?: Date | number; cancelled?: boolean } = {}): EventEmitter & { getDeadline(): Date | number; cancelled: boolean } =>
  Object.assign(new EventEmitter(), { getDeadline: () => extra.deadline ?? Infinity, cancelled: extra.cancelled ?? false });

describe('callSignal', () => {
  it('aborts with a CancelledError naming the method when the client cancels', () => {
    const c = call();
    const { signal } = callSignal(c, 'Links.Allocate');
    expect(signal.aborted).toBe(false);
    c.emit('cancelled');
    expect(signal.reason).toBeInstanceOf(CancelledError);
    expect((signal.reason as Error).message).toBe('Links.Allocate: the caller cancelled the call');
  });

  it('a call already cancelled when the handler starts: aborted at once', () => {
    expect(callSignal(call({ cancelled: true }), 'm').signal.aborted).toBe(true);
  });

  it('aborts when the deadline passes (Date or ms), and not after done()', async () => {
    const a = callSignal(call({ deadline: new Date(Date.now() + 20) }), 'm');
    const b = callSignal(call({ deadline: Date.now() + 20 }), 'm');
    const c = callSignal(call({ deadline: Date.now() + 20 }), 'm');
    c.done();
    await new Promise((r) => setTimeout(r, 60));
    expect((a.signal.reason as Error).message).toBe("m: the caller's deadline passed");
    expect(b.signal.aborted).toBe(true);
    expect(c.signal.aborted).toBe(false);
  });

  it('no deadline (Infinity) and no cancellation: never aborted', async () => {
    const { signal } = callSignal(call(), 'm');
    await new Promise((r) => setTimeout(r, 10));
    expect(signal.aborted).toBe(false);
  });
});
