// Big requests, decoded in stretches. grpc-js decodes a request in one
// synchronous call before the handler runs: a 10,000-link Allocate held the
// loop for about 30 ms there, and as long again converting the links. For a
// method whose bulk is one repeated message field (a topology's links), the
// deserializer here decodes everything but that field, and keeps each item's
// bytes (views into the received buffer, no copies); the handler decodes and
// converts the items under a Pacer, after the cheap checks (the item count
// against the limits) have run.
//
// Why this is valid: a message's encoding is a sequence of (tag, value)
// records in any order, and a repeated message field is one record per item,
// so cutting those records out leaves the encoding of the message without
// them, and each cut record's value is one item's encoding.
import type { PackageDefinition } from '@grpc/proto-loader';
import { InvalidSpecError } from '../errors.js';
import type { Pacer } from '../ipam/pacer.js';
import { fieldOf, messageType, record } from './wire.js';

const ITEMS = Symbol('undecoded items');
interface Deferred { [ITEMS]?: Buffer[] }

/** Reads a varint at `at`; returns [value, next offset]. */
function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = at; i < b.length && i < at + 10; i++) {
    const x = b[i]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, i + 1];
    mul *= 128;
  }
  throw new RangeError('truncated varint');
}

interface Rec { field: number; start: number; end: number; value?: Buffer }
/** The top-level records of a message's encoding (groups, unused in proto3, are refused). */
function records(b: Buffer): Rec[] {
  const out: Rec[] = [];
  let at = 0;
  while (at < b.length) {
    const start = at;
    const [tag, a1] = varint(b, at);
    const wire = tag & 7;
    const field = Math.floor(tag / 8);
    at = a1;
    if (wire === 0) at = varint(b, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, a2] = varint(b, at);
      if (a2 + len > b.length) throw new RangeError('truncated length-delimited field');
      out.push({ field, start, end: a2 + len, value: b.subarray(a2, a2 + len) });
      at = a2 + len;
      continue;
    } else throw new RangeError(`wire type ${wire} is not used by these messages`);
    if (at > b.length) throw new RangeError('truncated field');
    out.push({ field, start, end: at });
  }
  return out;
}

/**
 * A request deserializer for `typeName` that leaves the items of
 * `outer.inner` (e.g. topology.links) undecoded: the result has that list
 * empty, and the items' bytes for decodeItems().
 */
export function deferItems(def: PackageDefinition, typeName: string, [outer, inner]: readonly [string, string]): (b: Buffer) => unknown {
  const whole = messageType(def, typeName);
  const o = fieldOf(def, typeName, outer);
  const i = fieldOf(def, o.typeName, inner);
  return (b: Buffer) => {
    const top = records(b);
    const items: Buffer[] = [];
    const kept: Buffer[] = [];
    for (const r of top) {
      if (r.field !== o.number || !r.value) { kept.push(b.subarray(r.start, r.end)); continue; }
      // The enclosing message, its items cut out. Sent twice, the last one counts (protobufjs, which decodes
      // our requests whole otherwise, replaces rather than merges): the same request either way.
      items.length = 0;
      const rest: Buffer[] = [];
      for (const x of records(r.value)) {
        if (x.field === i.number && x.value) items.push(x.value);
        else rest.push(r.value.subarray(x.start, x.end));
      }
      const body = Buffer.concat(rest);
      kept.push(...record(o.number, body));
    }
    const msg = whole.deserialize(Buffer.concat(kept)) as Deferred;
    Object.defineProperty(msg, ITEMS, { value: items, enumerable: false });
    return msg;
  };
}

/** How many items deferItems() left undecoded in `msg` (undefined: none were deferred). */
export function deferredCount(msg: unknown): number | undefined {
  return (msg as Deferred | undefined)?.[ITEMS]?.length;
}

/**
 * The deferred items, each decoded as `itemType` and converted by `each`, in
 * paced stretches; an item that cannot be decoded is INVALID_ARGUMENT naming
 * it (`field`[index]).
 */
export async function decodeItems<T>(def: PackageDefinition, itemType: string, msg: unknown, field: string, each: (item: unknown, index: number) => T, pace: Pacer): Promise<T[]> {
  const raw = (msg as Deferred)[ITEMS] ?? [];
  const t = messageType(def, itemType);
  return pace.map(raw, (b, k) => {
    let item: unknown;
    try {
      item = t.deserialize(b);
    } catch (e) {
      throw new InvalidSpecError(`${field}[${k}]: cannot be decoded as ${itemType} (${(e as Error).message})`, { field: `${field}[${k}]` });
    }
    return each(item, k);
  });
}
