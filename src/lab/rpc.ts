// Small helpers for talking to the controller from front ends (lab, CLI):
// a deadline on any call, and gRPC errors as one readable line.
import { status } from '@grpc/grpc-js';

const STATUS_NAMES = new Map<number, string>(
  Object.entries(status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]),
);

export function isRpcError(e: unknown): e is Error & { code: number; details: string } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number' && typeof (e as { details?: unknown }).details === 'string';
}

export function rpcCode(e: unknown): number | undefined {
  return isRpcError(e) ? e.code : undefined;
}

/** "INVALID_ARGUMENT: topology.links[0].members: …" for gRPC errors, the message otherwise. */
export function errorText(e: unknown): string {
  if (isRpcError(e)) {
    const details = (e.details || e.message).replace(/\s*Resolution note:\s*$/, '').trim();
    return `${STATUS_NAMES.get(e.code) ?? `status ${e.code}`}: ${details}`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number) { super(`${what}: no answer within ${ms} ms`); }
}

/** Resolve or reject with `p`, or reject after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
