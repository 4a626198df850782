// Release: the slice's header and links go, its block, identifier and
// underlay pair records turn into cooldown records (or go, with a cooldown
// of 0), and the guard of every pool, kind and pair space involved is
// bumped, all in one transaction.
import { transact, TxnBuilder, type Attempt, type Entry } from '../store/index.js';
import type { Held, Holds } from './holds.js';
import { afterCommit, joinAlso, txOptions, type Also, type OpContext } from './op-context.js';
import { parsePrefix } from './prefix.js';
import {
  BLOCK_FIELDS,
  CONFIG_KEY,
  decode,
  encode,
  keys,
  PAIR_FIELDS,
  RUN_FIELDS,
  SET_FIELDS,
  SLICE_FIELDS,
  type BlockRecord,
  type IdRunRecord,
  type PairRecord,
  type SetRecord,
  type SliceRecord,
} from './records.js';
import { isExpired } from './slice-view.js';
import type { IdentifierKind, ReleaseResult } from './types.js';

interface Change<R> {
  readonly entry: Entry;
  /** The cooldown record that replaces it; undefined = deleted. */
  readonly next: R | undefined;
}

/**
 * With `onlyIfExpiredBy`, releases only an allocation that is still
 * unprovisioned and expired at that time, and that `ctx.keep` does not keep.
 * With `also`, the caller's records commit in the release's transaction, also
 * when there is nothing to release (then guarded by the slice's header).
 */
export async function releaseOp(ctx: OpContext, slice: string, signal?: AbortSignal, onlyIfExpiredBy?: number, also?: Also<ReleaseResult>): Promise<ReleaseResult> {
  const { store, cache, clock } = ctx;
  let pools: string[] = [];
  let kinds: IdentifierKind[] = [];
  let spaces: string[] = [];
  return transact<ReleaseResult>(
    store,
    async () => {
      const now = clock.now();
      const snap = await store.read([{ key: CONFIG_KEY }, { key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
      const [configEntry, headerEntry, linksEntry] = snap.results.map((r) => r[0]);
      const none: ReleaseResult = { slice, released: false };
      const unchanged = async (): Promise<Attempt<ReleaseResult>> =>
        also
          ? { txn: (await joinAlso(new TxnBuilder().compare(keys.slice(slice), headerEntry?.modRevision ?? 0), also, none)).build(), result: (revision) => afterCommit(also, revision, none) }
          : { done: none };
      if (!headerEntry) return unchanged();
      const header = decode<SliceRecord>(headerEntry, SLICE_FIELDS);
      if (onlyIfExpiredBy !== undefined && (!isExpired(header, onlyIfExpiredBy) || ctx.keep?.(slice))) return unchanged();
      const config = cache.config(configEntry);
      const until = now + config.cooldownMs;

      const blockKeys = header.blocks.map((b) => keys.block(b.pool, parsePrefix(b.prefix, `slice "${slice}" block`)));
      const runKeys = header.idRuns.map((r) => keys.idRun(r.kind, r.start));
      const pairKeys = (header.pairs ?? []).map((p) => keys.pair(p.space, p));
      pools = [...new Set(header.blocks.map((b) => b.pool))];
      kinds = [...new Set(header.idRuns.map((r) => r.kind))];
      spaces = [...new Set((header.pairs ?? []).map((p) => p.space))];
      const guardKeys = [...pools.map(keys.blockSet), ...kinds.map(keys.idSet), ...spaces.map(keys.pairSet)];
      const held = await store.read([...blockKeys, ...runKeys, ...pairKeys, ...guardKeys].map((key) => ({ key })), { signal });
      const entries = held.results.map((r) => r[0]);
      const heldCount = blockKeys.length + runKeys.length + pairKeys.length;
      const guards = new Map(guardKeys.map((k, i) => [k, entries[heldCount + i]]));

      const tb = new TxnBuilder().compare(CONFIG_KEY, configEntry!.modRevision);
      tb.delete(headerEntry.key, headerEntry.modRevision);
      if (linksEntry) tb.delete(linksEntry.key, linksEntry.modRevision);
      // Only records this slice still holds live; anything else is not ours to touch.
      const cool = <R extends BlockRecord | IdRunRecord | PairRecord>(e: Entry | undefined, fields: readonly (keyof R & string)[]): Change<R> | undefined => {
        if (!e) return undefined;
        const r = decode<R>(e, fields);
        if (r.slice !== slice || r.state !== 'live') return undefined;
        const next = config.cooldownMs > 0 ? ({ ...r, state: 'cooldown', until } as R) : undefined;
        if (next) tb.put(e.key, encode(next), e.modRevision);
        else tb.delete(e.key, e.modRevision);
        return { entry: e, next };
      };
      const blockChanges = entries.slice(0, blockKeys.length).flatMap((e) => cool<BlockRecord>(e, BLOCK_FIELDS) ?? []);
      const runChanges = entries.slice(blockKeys.length, blockKeys.length + runKeys.length).flatMap((e) => cool<IdRunRecord>(e, RUN_FIELDS) ?? []);
      const pairChanges = entries.slice(blockKeys.length + runKeys.length, heldCount).flatMap((e) => cool<PairRecord>(e, PAIR_FIELDS) ?? []);
      for (const [key, guard] of guards) {
        const set = guard ? decode<SetRecord>(guard, SET_FIELDS) : { changes: 0 };
        tb.put(key, encode({ ...set, changes: set.changes + 1 }), guard?.modRevision ?? 0);
      }

      const released: ReleaseResult = { slice, released: true, ...(config.cooldownMs > 0 ? { cooldownUntil: until } : {}) };
      return {
        txn: (await joinAlso(tb, also, released)).build(),
        result: (revision: number): ReleaseResult => {
          patchIndices(ctx, { pools, kinds, spaces, guards, blockChanges, runChanges, pairChanges, revision });
          return afterCommit(also, revision, released);
        },
      };
    },
    txOptions(ctx, `release slice "${slice}"`, signal, () => cache.drop(pools, kinds, spaces)),
  );
}

// Indices that were current just before our commit are patched to match it;
// any other is dropped and rebuilt from the store when next needed.
function patchIndices(
  ctx: OpContext,
  c: {
    pools: readonly string[];
    kinds: readonly IdentifierKind[];
    spaces: readonly string[];
    guards: ReadonlyMap<string, Entry | undefined>;
    blockChanges: readonly Change<BlockRecord>[];
    runChanges: readonly Change<IdRunRecord>[];
    pairChanges: readonly Change<PairRecord>[];
    revision: number;
  },
): void {
  const guardRevision = (key: string): number => c.guards.get(key)?.modRevision ?? 0;
  for (const pool of c.pools) {
    if (!patch(ctx.cache.poolAt(pool, guardRevision(keys.blockSet(pool))), c.blockChanges, c.revision)) ctx.cache.drop([pool], []);
  }
  for (const kind of c.kinds) {
    if (!patch(ctx.cache.idsAt(kind, guardRevision(keys.idSet(kind))), c.runChanges, c.revision)) ctx.cache.drop([], [kind]);
  }
  for (const space of c.spaces) {
    if (!patch(ctx.cache.pairsAt(space, guardRevision(keys.pairSet(space))), c.pairChanges, c.revision)) ctx.cache.drop([], [], [space]);
  }
}

/** Applies the changes that are `idx`'s and moves it to `revision`; false when there is no index to patch. */
function patch<H extends Held>(
  idx: { readonly holds: Holds<H>; free(h: H): void; revision: number; changes: number } | undefined,
  changes: readonly Change<H['record']>[],
  revision: number,
): boolean {
  if (!idx) return false;
  for (const { entry, next } of changes) {
    const h = idx.holds.byKey.get(entry.key);
    if (!h) continue;
    if (next) idx.holds.add({ ...h, modRevision: revision, record: next });
    else {
      idx.holds.byKey.delete(h.key);
      idx.free(h);
    }
  }
  idx.revision = revision;
  idx.changes++;
  return true;
}
