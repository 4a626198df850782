// Provision: the allocation becomes permanent (until released); idempotent.
// With `also`, the caller's records commit in the same transaction, also
// when the allocation was provisioned already (then guarded by its header).
import { IncompatibleStateError, NotFoundError } from '../errors.js';
import { transact, TxnBuilder } from '../store/index.js';
import { afterCommit, joinAlso, txOptions, type Also, type OpContext } from './op-context.js';
import { decode, encode, keys, LINKS_FIELDS, SLICE_FIELDS, type SliceLinksRecord, type SliceRecord } from './records.js';
import { isExpired, iso, toAllocation } from './slice-view.js';
import type { SliceAllocation } from './types.js';

export async function markProvisionedOp(ctx: OpContext, slice: string, signal?: AbortSignal, also?: Also<SliceAllocation>): Promise<SliceAllocation> {
  const { store, clock } = ctx;
  return transact<SliceAllocation>(
    store,
    async () => {
      const now = clock.now();
      const snap = await store.read([{ key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
      const [headerEntry, linksEntry] = snap.results.map((r) => r[0]);
      if (!headerEntry) throw new NotFoundError(`slice "${slice}": no allocation`, { field: 'slice' });
      const header = decode<SliceRecord>(headerEntry, SLICE_FIELDS);
      const links = linksEntry ? decode<SliceLinksRecord>(linksEntry, LINKS_FIELDS) : { links: [] };
      if (header.state === 'provisioned') {
        const done = toAllocation(header, links);
        if (!also) return { done };
        return { txn: (await joinAlso(new TxnBuilder().compare(headerEntry.key, headerEntry.modRevision), also, done)).build(), result: (revision) => afterCommit(also, revision, done) };
      }
      // Expired is expired, whether or not the sweeper has come by yet.
      if (isExpired(header, now)) {
        throw new IncompatibleStateError(`slice "${slice}": allocation expired at ${iso(header.expiresAt!)} before it was provisioned; allocate again`);
      }
      const { expiresAt: _expiry, ...rest } = header;
      const next: SliceRecord = { ...rest, state: 'provisioned', provisionedAt: now };
      const provisioned = toAllocation(next, links);
      return {
        txn: (await joinAlso(new TxnBuilder().put(headerEntry.key, encode(next), headerEntry.modRevision), also, provisioned)).build(),
        result: (revision) => afterCommit(also, revision, provisioned),
      };
    },
    txOptions(ctx, `provision slice "${slice}"`, signal),
  );
}
