// The limits one aggregate manager is held to across its slices
// (limits.slices_per_am, limits.addresses_per_am); an operator (no owner)
// is not counted. Per-request limits are in limits.ts.
import { LimitExceededError } from '../errors.js';
import { addressCount, LIMIT_NAMES, type Limits } from './limits.js';
import type { SliceRecord } from './model.js';
import type { Scope } from './scope.js';

export class TenantLimits {
  /** Allocations in flight per owner: counted with its slices, so that concurrent Allocates cannot overshoot. */
  private readonly pendingByOwner = new Map<string, number>();

  constructor(private readonly slices: ReadonlyMap<string, SliceRecord>, private readonly limits: Limits) {}

  /** limits.slices_per_am: takes a slot for an allocation (refused when none is free); the returned function gives it back. */
  holdSlot(scope: Scope): () => void {
    const owner = scope.owner;
    if (!owner) return () => undefined;
    const pending = this.pendingByOwner.get(owner) ?? 0;
    const held = [...this.slices.values()].filter((s) => s.owner === owner).length + pending;
    if (held >= this.limits.slicesPerAm) throw new LimitExceededError(LIMIT_NAMES.slicesPerAm, `this AM holds ${held} slices, the limit is ${this.limits.slicesPerAm}`);
    this.pendingByOwner.set(owner, pending + 1);
    return () => {
      const n = (this.pendingByOwner.get(owner) ?? 1) - 1;
      if (n > 0) this.pendingByOwner.set(owner, n); else this.pendingByOwner.delete(owner);
    };
  }

  /** limits.addresses_per_am, with this allocation's blocks counted. */
  checkAddresses(rec: SliceRecord, scope: Scope): void {
    if (!scope.owner) return;
    const mine = [...this.slices.values()].filter((s) => s.owner === scope.owner && s.state !== 'shutdown').flatMap((s) => s.blocks);
    const total = addressCount(mine) + addressCount(rec.blocks);
    if (total > this.limits.addressesPerAm) {
      throw new LimitExceededError(LIMIT_NAMES.addressesPerAm, `this allocation would bring the AM's addresses to ${total}, the limit is ${this.limits.addressesPerAm}`);
    }
  }
}
