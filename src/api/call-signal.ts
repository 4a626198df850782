// A gRPC call's end, as an AbortSignal the work below the API edge checks at
// its safe points (IPAM's pacer between stretches, the store before a
// commit): a client that cancelled, lost its connection or passed its
// deadline gets nothing more done for it.
import type * as grpc from '@grpc/grpc-js';
import { CancelledError } from '../errors.js';

/** What of grpc-js's server calls this needs (unary calls have all of it; the agents' stream passes none). */
export interface CancellableCall {
  on?(event: 'cancelled', f: () => void): unknown;
  getDeadline?(): grpc.Deadline;
  cancelled?: boolean;
}

/**
 * An AbortSignal for one call, aborted with a CancelledError when the client
 * cancels (grpc-js emits "cancelled", also when the connection goes) or the
 * call's deadline passes. `done` releases the deadline timer.
 */
export function callSignal(call: CancellableCall, method: string): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const cancel = (): void => ac.abort(new CancelledError(`${method}: the caller cancelled the call`));
  if (call.cancelled) cancel();
  else call.on?.('cancelled', cancel);
  const d = call.getDeadline?.();
  const at = d instanceof Date ? d.getTime() : d;
  let timer: NodeJS.Timeout | undefined;
  if (at !== undefined && Number.isFinite(at)) {
    timer = setTimeout(() => ac.abort(new CancelledError(`${method}: the caller's deadline passed`)), Math.max(0, at - Date.now()));
    timer.unref();
  }
  return { signal: ac.signal, done: () => clearTimeout(timer) };
}
