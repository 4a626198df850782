// The one error → status mapping: the code, the message, and the metadata a
// client acts on (visp-code, visp-field, and for a refusal that lasts, when
// to ask again: visp-frees-at and visp-retry-after-ms).
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CancelledError, IncompatibleStateError, InvalidSpecError, PoolExhaustedError, UnavailableError } from '../errors.js';
import { toServiceError } from './errors.js';

const meta = (e: unknown): Record<string, unknown> => toServiceError(e, () => undefined).metadata?.getMap() ?? {};

describe('toServiceError', () => {
  const at = Date.parse('2030-01-01T00:10:00.000Z');
  it.each<[string, Error, status, Record<string, unknown>]>([
    ['a cooling block: FAILED_PRECONDITION, when it frees', new IncompatibleStateError('links[0].ipv4: … cooling down until 2030-01-01T00:10:00.000Z', { field: 'links[0].ipv4', freesAt: at, retryAfterMs: 449_999.5 }),
      status.FAILED_PRECONDITION, { 'visp-code': 'VISP_INCOMPATIBLE_STATE', 'visp-field': 'links[0].ipv4', 'visp-frees-at': '2030-01-01T00:10:00.000Z', 'visp-retry-after-ms': '450000' }],
    ['identifiers cooling: RESOURCE_EXHAUSTED, when enough are free', new PoolExhaustedError('vni range 1-3: exhausted', { field: 'links', freesAt: at, retryAfterMs: 60_000 }),
      status.RESOURCE_EXHAUSTED, { 'visp-code': 'VISP_POOL_EXHAUSTED', 'visp-field': 'links', 'visp-frees-at': '2030-01-01T00:10:00.000Z', 'visp-retry-after-ms': '60000' }],
    ['a refusal with no known end: no retry metadata', new InvalidSpecError('slice: is required', { field: 'slice' }), status.INVALID_ARGUMENT, { 'visp-code': 'VISP_INVALID_SPEC', 'visp-field': 'slice' }],
    ['a passing conflict: UNAVAILABLE, retry now', new UnavailableError('store: changed by another writer; retry'), status.UNAVAILABLE, { 'visp-code': 'VISP_UNAVAILABLE' }],
    ['a time beyond what a Date holds is left out', new IncompatibleStateError('x', { freesAt: 1e16, retryAfterMs: Number.POSITIVE_INFINITY }), status.FAILED_PRECONDITION, { 'visp-code': 'VISP_INCOMPATIBLE_STATE' }],
    ['a caller that went away: CANCELLED', new CancelledError('Links.Allocate: the caller cancelled the call'), status.CANCELLED, { 'visp-code': 'VISP_CANCELLED' }],
    ['a past time: retry after 0', new IncompatibleStateError('x', { freesAt: at, retryAfterMs: -5 }), status.FAILED_PRECONDITION, { 'visp-code': 'VISP_INCOMPATIBLE_STATE', 'visp-frees-at': '2030-01-01T00:10:00.000Z', 'visp-retry-after-ms': '0' }],
  ])('%s', (_what, e, code, metadata) => {
    const s = toServiceError(e, () => undefined);
    expect(s.code).toBe(code);
    expect(s.details).toBe(e.message);
    expect(meta(e)).toEqual(metadata);
  });

  it('anything else is INTERNAL with a generic message and no metadata; the stack goes to the log', () => {
    const log: string[] = [];
    const s = toServiceError(new TypeError('v.replace is not a function'), (l) => log.push(l));
    expect(s).toEqual({ code: status.INTERNAL, details: 'internal error (see the controller log)' });
    expect(log[0]).toMatch(/^internal error: TypeError: v.replace is not a function\n/);
  });
});
