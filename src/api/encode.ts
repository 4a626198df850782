// Big replies, encoded in stretches. grpc-js serializes a reply in one
// synchronous call; a 10,000-sliver manifest is converted and encoded in
// about 200 ms, during which every other caller waits. A reply whose bulk
// is one repeated message field (a manifest's slivers, a tunnel list) is
// therefore encoded here, item by item under a Pacer, and handed to grpc-js
// as bytes that its serializer passes through.
//
// Why this is valid protobuf: a message's encoding is the concatenation of
// its fields' encodings in any order, and a repeated message field is one
// (tag, length, bytes) record per item. So the reply = its encoding without
// the bulk, plus one record per item; a nested bulk (Manifest.slivers inside
// Response.manifest) adds the enclosing field's record around it.
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { Pacer } from '../ipam/pacer.js';
import { fieldOf, messageType, record } from './wire.js';

const BYTES = Symbol('encoded reply');
/** A reply already encoded: its serializer passes the bytes through. */
export interface Encoded { readonly [BYTES]: Buffer }

const isEncoded = (v: unknown): v is Encoded => typeof v === 'object' && v !== null && BYTES in v;

/** A copy of a service definition whose response serializers pass an Encoded reply through. */
export function passEncoded(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(service)) {
    const inner = m.responseSerialize;
    out[name] = { ...m, responseSerialize: (v: unknown) => (isEncoded(v) ? v[BYTES] : inner(v)) };
  }
  return out as grpc.ServiceDefinition;
}

export interface Bulk<T> {
  /** The field path from the reply to the repeated field: ['tunnels'], or ['manifest', 'slivers'] (one level of nesting). */
  readonly path: readonly [string] | readonly [string, string];
  readonly items: readonly T[];
  /** One item as its message object (converters run here, in paced stretches). */
  readonly toPb: (item: T, index: number) => object;
}

/**
 * `reply` (a message object of `typeName`, without the bulk) plus the bulk,
 * encoded in paced stretches. What a client decodes equals what grpc-js would
 * have encoded from the reply with the bulk in place.
 */
export async function encodePaced<T>(def: PackageDefinition, typeName: string, reply: Record<string, unknown>, bulk: Bulk<T>, pace: Pacer = new Pacer()): Promise<Encoded> {
  const [outer, inner] = bulk.path;
  const top = fieldOf(def, typeName, outer);
  const holder = inner === undefined ? top : fieldOf(def, top.typeName, inner);
  if (!holder.repeated) throw new TypeError(`encode: ${bulk.path.join('.')} of ${typeName} is not a repeated field`);
  const item = messageType(def, holder.typeName);
  const parts: Buffer[] = [];
  for (let i = 0; i < bulk.items.length; i++) {
    if ((i & 15) === 0 && pace.due()) await pace.pause();
    parts.push(...record(holder.number, item.serialize(bulk.toPb(bulk.items[i]!, i))));
  }
  if (inner === undefined) {
    const rest = messageType(def, typeName).serialize({ ...reply, [outer]: [] });
    return { [BYTES]: Buffer.concat([rest, ...parts]) };
  }
  // The enclosing message (e.g. the Manifest) without the bulk, then the bulk's records: that is its whole encoding.
  const enclosing = (reply[outer] ?? {}) as Record<string, unknown>;
  const body = Buffer.concat([messageType(def, top.typeName).serialize({ ...enclosing, [inner]: [] }), ...parts]);
  const rest = messageType(def, typeName).serialize({ ...reply, [outer]: undefined });
  return { [BYTES]: Buffer.concat([rest, ...record(top.number, body)]) };
}
