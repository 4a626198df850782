// Requests that cannot be decoded. grpc-js answers a deserialization failure
// with INTERNAL and no metadata, which tells a client "the server broke" when
// the client sent garbage. We wrap each method's deserializer so it never
// throws: it returns a marker carrying the reason, and the handler wrapper
// answers INVALID_ARGUMENT with visp-code like any other bad input.
import type * as grpc from '@grpc/grpc-js';
import { InvalidSpecError } from '../errors.js';

const UNDECODABLE = Symbol('undecodable');
interface Undecodable { [UNDECODABLE]: string }

export function isUndecodable(r: unknown): r is Undecodable {
  return typeof r === 'object' && r !== null && UNDECODABLE in r;
}

/** Throws the INVALID_ARGUMENT error for an undecodable request; returns the request otherwise. */
export function decoded<T>(r: T): T {
  if (isUndecodable(r)) throw new InvalidSpecError(`request: cannot be decoded as this method's request message (${r[UNDECODABLE]})`, { field: 'request' });
  return r;
}

/** A copy of a service definition whose request deserializers never throw. */
export function tolerant(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(service)) {
    const inner = m.requestDeserialize;
    out[name] = {
      ...m,
      requestDeserialize: (b: Buffer) => {
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
