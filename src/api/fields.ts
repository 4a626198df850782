// Reading and writing message fields, for the converters (convert.ts,
// egress-convert.ts). Each reader is total: a value that is not what the
// field holds is refused with a VispError naming the field, through a
// Refuse: badInput (from a message: InvalidSpecError, INVALID_ARGUMENT) or
// badOutput (into one: IncompatibleStateError, FAILED_PRECONDITION), never a
// TypeError. Absent scalars and lists read as proto3's defaults
// ('' / 0 / false / []).
import { IncompatibleStateError, InvalidSpecError, type VispError } from '../errors.js';

/** How a converter refuses a value: input (from a message) or output (into one). */
export type Refuse = (field: string, why: string) => VispError;
export const badInput: Refuse = (field, why) => new InvalidSpecError(`${field}: ${why}`, { field });
export const badOutput: Refuse = (field, why) => new IncompatibleStateError(`${field}: cannot be sent: ${why}`, { field });

/** A value for a message: short, and never throwing (BigInt, cycles, symbols). */
export function shown(v: unknown): string {
  try {
    const s = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

export const absent = (v: unknown): v is null | undefined => v === undefined || v === null;

export function text(v: unknown, field: string, refuse: Refuse = badInput): string {
  if (absent(v)) return '';
  if (typeof v !== 'string') throw refuse(field, `expected a string, got ${shown(v)}`);
  return v;
}

/** A uint32 field. */
export function count(v: unknown, field: string, refuse: Refuse = badInput): number {
  if (absent(v)) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw refuse(field, `expected a whole number 0–4294967295, got ${shown(v)}`);
  return v;
}

/** A uint64 field (a generation is a time in ms; counters grow): the decoder gives a Number, exact up to 2^53. */
export function count64(v: unknown, field: string, refuse: Refuse = badInput): number {
  if (absent(v)) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw refuse(field, `expected a whole number ≥ 0, got ${shown(v)}`);
  return v;
}

export function flag(v: unknown, field: string, refuse: Refuse = badInput): boolean {
  if (absent(v)) return false;
  if (typeof v !== 'boolean') throw refuse(field, `expected true or false, got ${shown(v)}`);
  return v;
}

/** A nested message: undefined when absent. */
export function message(v: unknown, field: string, refuse: Refuse = badInput): Record<string, unknown> | undefined {
  if (absent(v)) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw refuse(field, `expected a message, got ${shown(v)}`);
  return v as Record<string, unknown>;
}

/** A nested message that must be there. */
export function required(v: unknown, field: string, refuse: Refuse = badInput): Record<string, unknown> {
  const m = message(v, field, refuse);
  if (!m) throw refuse(field, 'is required');
  return m;
}

export function list<T>(v: unknown, field: string, each: (x: unknown, field: string) => T, refuse: Refuse = badInput): T[] {
  if (absent(v)) return [];
  if (!Array.isArray(v)) throw refuse(field, `expected a list, got ${shown(v)}`);
  return v.map((x, i) => each(x, `${field}[${i}]`));
}

export const texts = (v: unknown, field: string, refuse: Refuse = badInput): string[] => list(v, field, (x, f) => text(x, f, refuse), refuse);

/** Converters over lists are handed the index as the field: `xs.map(fromPb)` names `list[i]`. */
export const fieldOf = (at: string | number, listName: string): string => (typeof at === 'number' ? `${listName}[${at}]` : at);

/**
 * A protobuf enum ↔ a domain value. Unset reads as `unspecified`, which maps
 * only where `pairs` says so; anything else not in `pairs` is refused.
 */
export function enumeration<N extends string, T>(what: string, unspecified: string, pairs: ReadonlyArray<readonly [N, T]>): {
  fromPb(v: unknown, field: string): T;
  toPb(t: unknown, field: string): N;
} {
  const from = new Map<unknown, T>(pairs);
  const to = new Map<unknown, N>();
  for (const [n, t] of pairs) if (!to.has(t)) to.set(t, n);
  const names = pairs.map(([n]) => n).join(', ');
  return {
    fromPb(v, field) {
      const key = absent(v) || v === '' ? unspecified : v;
      if (from.has(key)) return from.get(key)!;
      if (key === unspecified) throw badInput(field, `is required: one of ${names}`);
      throw badInput(field, `${typeof v === 'number' ? `unknown ${what} value ${v}` : `unknown ${what} ${shown(v)}`} (expected one of ${names})`);
    },
    toPb(t, field) {
      if (!to.has(t)) throw badOutput(field, `${shown(t)} is not a ${what} the API knows (${[...to.keys()].join(', ')})`);
      return to.get(t)!;
    },
  };
}

/** A time for a message (RFC 3339); '' for none. */
export function iso(t: number | undefined, field = 'time'): string {
  if (t === undefined) return '';
  if (typeof t !== 'number' || !Number.isFinite(t) || Math.abs(t) > 8.64e15) throw badOutput(field, `${shown(t)} is not a time`);
  return new Date(t).toISOString();
}
