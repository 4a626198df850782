// What a caller may see, decided at the API edge from its certificate.
import type { SliceRecord } from './model.js';

/**
 * `owner` set (an aggregate manager) = only the slices it allocated, and a
 * slice of another owner is NOT_FOUND exactly like one that does not exist;
 * unset (an operator) = every slice.
 */
export interface Scope { owner?: string }
export const ALL: Scope = {};

export const visible = (s: SliceRecord, scope: Scope): boolean => scope.owner === undefined || s.owner === scope.owner;
