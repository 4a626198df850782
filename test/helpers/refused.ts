// One assertion for converters and parsers that must refuse garbage with a
// VispError naming the field (never a TypeError or a bare Error).
import { expect } from 'vitest';
import { VispError } from '../../src/errors.js';

/** `f()` throws exactly class `cls` (a VispError) naming `field`, its message starting with the field, with `message` in it. */
export function expectRefused(f: () => unknown, cls: abstract new (...args: never[]) => VispError, field: string, message?: RegExp): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err, 'expected a refusal').toBeInstanceOf(VispError);
  expect((err as Error).constructor, (err as Error).message).toBe(cls);
  expect(err).toMatchObject({ field });
  expect((err as Error).message.startsWith(`${field}: `), (err as Error).message).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}
