// Errors become gRPC statuses here and nowhere else. Anything that is not a
// VispError is a bug: INTERNAL with a generic message, the stack in the log.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { VispError } from '../errors.js';

const STATUS: Record<string, status> = {
  VISP_INVALID_SPEC: status.INVALID_ARGUMENT,
  VISP_NOT_FOUND: status.NOT_FOUND,
  VISP_ALREADY_EXISTS: status.ALREADY_EXISTS,
  VISP_INCOMPATIBLE_STATE: status.FAILED_PRECONDITION,
  VISP_POOL_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  VISP_UNAVAILABLE: status.UNAVAILABLE,
  VISP_KERNEL: status.INTERNAL,
  VISP_UNAUTHENTICATED: status.UNAUTHENTICATED,
  VISP_PERMISSION_DENIED: status.PERMISSION_DENIED,
  VISP_LIMIT_EXCEEDED: status.RESOURCE_EXHAUSTED,
  VISP_CANCELLED: status.CANCELLED,
};

export function toServiceError(e: unknown, log: (line: string) => void): Partial<ServiceError> {
  if (e instanceof VispError) {
    const metadata = new Metadata();
    metadata.set('visp-code', e.code);
    if (e.field) metadata.set('visp-field', e.field);
    // A refusal that lasts: when to ask again (a client must not spin on it).
    if (e.freesAt !== undefined && Math.abs(e.freesAt) <= 8.64e15) metadata.set('visp-frees-at', new Date(e.freesAt).toISOString());
    if (e.retryAfterMs !== undefined && Number.isFinite(e.retryAfterMs)) metadata.set('visp-retry-after-ms', String(Math.max(0, Math.ceil(e.retryAfterMs))));
    return { code: STATUS[e.code] ?? status.INTERNAL, details: e.message, metadata };
  }
  log(`internal error: ${(e as Error)?.stack ?? String(e)}`);
  return { code: status.INTERNAL, details: 'internal error (see the controller log)' };
}
