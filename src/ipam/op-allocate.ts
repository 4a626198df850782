// Allocate: plan the whole slice against the in-memory indices, then commit
// it in one transaction with CAS on the configuration, the slice's keys and
// the guard of every pool, identifier kind and underlay pair space it took
// from (and each pair's own key, put only if absent).
import { IncompatibleStateError } from '../errors.js';
import { transact, TxnBuilder } from '../store/index.js';
import { afterCommit, joinAlso, txOptions, type Also, type OpContext } from './op-context.js';
import { Pacer } from './pacer.js';
import { identifierKinds, pairSpaces, planSlicePaced, poolsFor, type Plan } from './plan.js';
import { CONFIG_KEY, decode, encode, keys, SLICE_FIELDS, type SliceLinksRecord, type SliceRecord } from './records.js';
import { parseSliceSpecPaced } from './request.js';
import { alreadyAllocated, toAllocation } from './slice-view.js';
import type { SliceAllocation, SliceSpec } from './types.js';

/** With `also`, the caller's records commit in the allocation's transaction (see Also). */
export async function allocateOp(ctx: OpContext, spec: SliceSpec, signal?: AbortSignal, also?: Also<SliceAllocation>): Promise<SliceAllocation> {
  const { store, cache, clock } = ctx;
  const pace = new Pacer(signal); // a big slice gives other callers turns, from parsing to commit
  const request = await parseSliceSpecPaced(spec, pace);
  const slice = request.slice;
  const kinds = identifierKinds(request);
  const spaces = pairSpaces(request);
  let poolNames: string[] = [];
  // A plan takes space from the shared indices; if it is not committed they no longer match the store.
  const forget = (): void => cache.drop(poolNames, kinds, spaces);
  try {
    return await transact<SliceAllocation>(
      store,
      async () => {
        const now = clock.now();
        const snap = await store.read([{ key: CONFIG_KEY }, { key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
        const [configEntry, header, links] = snap.results.map((r) => r[0]);
        const config = cache.config(configEntry);
        if (header) throw alreadyAllocated(decode<SliceRecord>(header, SLICE_FIELDS));
        if (links) throw new IncompatibleStateError(`slice "${slice}": store holds links without a slice header (${links.key}); run the IPAM check`);
        poolNames = [...new Set(request.blocks.flatMap((br) => poolsFor(br, config)))];
        const { pools, ids, pairs } = await cache.indices(poolNames, kinds, spaces, config, now, signal);
        const plan = await planSlicePaced({ request, config, now, pools, ids, pairs }, pace);
        const txn = (await joinAlso(planTxn(plan, configEntry!.modRevision), also, toAllocation(plan.slice, { links: plan.links }))).build();
        return { txn, result: (revision) => afterCommit(also, revision, committed(plan, revision)) };
      },
      txOptions(ctx, `allocate slice "${slice}"`, signal, forget),
    );
  } catch (err) {
    forget();
    throw err;
  }
}

function planTxn(plan: Plan, configRevision: number): TxnBuilder {
  const tb = new TxnBuilder().compare(CONFIG_KEY, configRevision);
  const slice = plan.slice.slice;
  tb.put(keys.slice(slice), encode(plan.slice), 0);
  tb.put(keys.sliceLinks(slice), encode({ links: plan.links } satisfies SliceLinksRecord), 0);
  // Expired cooldown records go first: a new block may reuse the same key.
  for (const idx of new Set(plan.blocks.map((b) => b.index))) {
    for (const h of idx.holds.stale) tb.delete(h.key, h.modRevision);
    tb.put(keys.blockSet(idx.pool.name), encode(idx.nextGuard()), idx.revision);
  }
  for (const b of plan.blocks) tb.put(keys.block(b.index.pool.name, b.prefix), encode(b.record), 0);
  for (const p of plan.ids) {
    for (const h of p.index.holds.stale) tb.delete(h.key, h.modRevision);
    tb.put(keys.idSet(p.index.kind), encode(p.index.nextGuard(p.cursor)), p.index.revision);
    for (const r of p.records) tb.put(keys.idRun(r.kind, r.start), encode(r), 0);
  }
  for (const p of plan.pairs) {
    for (const h of p.index.holds.stale) tb.delete(h.key, h.modRevision);
    tb.put(keys.pairSet(p.index.space), encode(p.index.nextGuard()), p.index.revision);
    for (const r of p.records) tb.put(keys.pair(r.space, r), encode(r), 0);
  }
  return tb;
}

// The indices already hold the plan's space; record what it is and the revision they now reflect.
function committed(plan: Plan, revision: number): SliceAllocation {
  for (const idx of new Set(plan.blocks.map((b) => b.index))) idx.committed(revision);
  for (const b of plan.blocks) {
    b.index.holds.add({ key: keys.block(b.index.pool.name, b.prefix), modRevision: revision, record: b.record, prefix: b.prefix });
  }
  for (const p of plan.ids) {
    p.index.committed(revision, p.cursor);
    for (const r of p.records) p.index.holds.add({ key: keys.idRun(r.kind, r.start), modRevision: revision, record: r });
  }
  for (const p of plan.pairs) {
    p.index.committed(revision);
    for (const r of p.records) p.index.holds.add({ key: keys.pair(r.space, r), modRevision: revision, record: r });
  }
  return toAllocation(plan.slice, { links: plan.links });
}
