// Turning stored slice records into the public result, and the small
// judgements about a slice that several operations share.
import { AlreadyExistsError } from '../errors.js';
import type { SliceLinksRecord, SliceRecord } from './records.js';
import type { SliceAllocation, SliceSummary } from './types.js';

export const isExpired = (h: SliceRecord, now: number): boolean => h.state === 'allocated' && h.expiresAt !== undefined && h.expiresAt <= now;

/** The header without what only the store needs (its identifier runs). */
export function toSummary(h: SliceRecord): SliceSummary {
  return {
    slice: h.slice,
    state: h.state,
    allocatedAt: h.allocatedAt,
    ...(h.expiresAt !== undefined ? { expiresAt: h.expiresAt } : {}),
    ...(h.provisionedAt !== undefined ? { provisionedAt: h.provisionedAt } : {}),
    ...(h.groupId !== undefined ? { groupId: h.groupId } : {}),
    blocks: h.blocks,
  };
}

export const toAllocation = (h: SliceRecord, l: SliceLinksRecord): SliceAllocation => ({ ...toSummary(h), links: l.links });

export function alreadyAllocated(h: SliceRecord): AlreadyExistsError {
  const when = h.state === 'allocated' && h.expiresAt !== undefined ? `, expires ${iso(h.expiresAt)}` : '';
  return new AlreadyExistsError(`slice "${h.slice}": already has an allocation (${h.state}${when}); release it first`, { field: 'slice' });
}

/** Who holds a block or run, for messages. */
export function holdText(r: { slice: string; state: string; until?: number }): string {
  return r.state === 'live' ? `held by slice "${r.slice}"` : `cooling down after slice "${r.slice}" until ${iso(r.until ?? 0)}`;
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** "cooling down until <time> (frees in 9 min 58 s)": when a cooldown ends, for refusals. */
export function coolingText(until: number, now: number): string {
  const s = Math.max(0, Math.ceil((until - now) / 1000));
  const left = s >= 60 ? `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}` : `${s} s`;
  return `cooling down until ${iso(until)} (frees in ${left})`;
}
