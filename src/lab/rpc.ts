// Small helpers for talking to the controller from front ends (lab, CLI):
// a deadline on any call, gRPC errors as one readable line, and a refusal of
// a topology field placed in the file the topology came from.
import { status, type Metadata } from '@grpc/grpc-js';
import { InvalidSpecError } from '../errors.js';

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

/** The field a controller's refusal is about (its visp-field metadata), if it names one. */
export function rpcField(e: unknown): string | undefined {
  if (!isRpcError(e)) return undefined;
  const v = (e as { metadata?: Metadata }).metadata?.get?.('visp-field')[0];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * A controller's INVALID_ARGUMENT about a field of the topology we sent
 * ("topology.links[0].mtu: 1500 is too big for vxlan …"), with its details
 * placed by `place` in the file the topology came from ("t.yaml:7:10:
 * links[0].mtu: 1500 is too big …"); it stays the controller's refusal (code,
 * metadata; the original is the cause). Anything else as it is. Only topology
 * fields: the slice id may come from a flag rather than the file.
 */
export function placeRefusal(e: unknown, place: (e: InvalidSpecError) => InvalidSpecError): unknown {
  const field = rpcField(e);
  if (!isRpcError(e) || e.code !== status.INVALID_ARGUMENT || !field?.startsWith('topology.')) return e;
  const refusal = new InvalidSpecError(e.details, { field });
  const placed = place(refusal);
  if (placed === refusal) return e;
  const details = placed.message;
  return Object.assign(new Error(`${e.code} ${STATUS_NAMES.get(e.code)}: ${details}`, { cause: e }), { code: e.code, details, metadata: (e as { metadata?: Metadata }).metadata });
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
