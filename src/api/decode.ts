// Requests that cannot be decoded. grpc-js answers a deserialization failure
// with INTERNAL and no metadata, which tells a client "the server broke" when
// the client sent garbage. We wrap each method's deserializer so it never
// throws: it returns a marker carrying the reason, and the handler wrapper
// answers INVALID_ARGUMENT with visp-code like any other bad input.
import type * as grpc from '@grpc/grpc-js';
import { InvalidSpecError, LimitExceededError } from '../errors.js';

const UNDECODABLE = Symbol('undecodable');
const TOO_LARGE = Symbol('too large');
interface Undecodable { [UNDECODABLE]: string; [TOO_LARGE]?: { bytes: number; limit: number } }

export function isUndecodable(r: unknown): r is Undecodable {
  return typeof r === 'object' && r !== null && UNDECODABLE in r;
}

/** Throws the INVALID_ARGUMENT error for an undecodable request; returns the request otherwise. */
export function decoded<T>(r: T): T {
  if (!isUndecodable(r)) return r;
  const big = r[TOO_LARGE];
  if (big) throw new LimitExceededError('limits.request_bytes', `the request is ${big.bytes} bytes, the limit is ${big.limit}`);
  throw new InvalidSpecError(`request: cannot be decoded as this method's request message (${r[UNDECODABLE]})`, { field: 'request' });
}

/**
 * A copy of a service definition whose request deserializers never throw,
 * and do not even decode a message over `maxBytes` (limits.request_bytes):
 * decoding an absurd request would hold the event loop before any check
 * could refuse it. `decoders` replaces a method's own (bulk-decode.ts).
 */
export function tolerant(service: grpc.ServiceDefinition, maxBytes = Infinity, decoders: Record<string, (b: Buffer) => unknown> = {}): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(service)) {
    const inner = decoders[name] ?? m.requestDeserialize;
    out[name] = {
      ...m,
      requestDeserialize: (b: Buffer) => {
        if (b.length > maxBytes) return { [UNDECODABLE]: 'too large', [TOO_LARGE]: { bytes: b.length, limit: maxBytes } } satisfies Undecodable;
        try {
          return inner(b);
        } catch (e) {
          return { [UNDECODABLE]: (e as Error).message } satisfies Undecodable;
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}
