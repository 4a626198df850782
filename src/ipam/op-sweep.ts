// Sweep: release allocations not provisioned in time, then delete the
// cooldown records that have run out (one guarded transaction per pool,
// identifier kind and pair space, so a busy pool does not hold up the others).
import { transact, TxnBuilder } from '../store/index.js';
import type { IpamConfig } from './config.js';
import type { IdIndex } from './id-index.js';
import { txOptions, type OpContext } from './op-context.js';
import { releaseOp } from './op-release.js';
import type { PairIndex } from './pair-index.js';
import type { PoolIndex } from './pool-index.js';
import { CONFIG_KEY, decode, encode, keys, PAIR_SETS_PREFIX, SLICE_FIELDS, SLICES_PREFIX, type SliceRecord } from './records.js';
import { isExpired } from './slice-view.js';
import { IDENTIFIER_KINDS, type SweepResult } from './types.js';

export async function sweepOp(ctx: OpContext, signal?: AbortSignal): Promise<SweepResult> {
  const now = ctx.clock.now();
  const snap = await ctx.store.read([{ prefix: SLICES_PREFIX }, { key: CONFIG_KEY }], { signal });
  const expired: string[] = [];
  for (const e of snap.results[0]!) {
    const header = decode<SliceRecord>(e, SLICE_FIELDS);
    if (!isExpired(header, now)) continue;
    // Re-checked inside the release transaction: it may have been provisioned meanwhile.
    if ((await releaseOp(ctx, header.slice, signal, now)).released) expired.push(header.slice);
  }
  const configEntry = snap.results[1]![0];
  const collected = configEntry ? await collect(ctx, ctx.cache.config(configEntry), signal) : 0;
  return { expired, collected };
}

async function collect(ctx: OpContext, config: IpamConfig, signal?: AbortSignal): Promise<number> {
  let n = 0;
  for (const { name } of config.pools) {
    n += await collectOne(ctx, `pool "${name}"`, signal, async (now) => (await ctx.cache.pools([name], config, now, signal)).get(name)!, keys.blockSet(name), () =>
      ctx.cache.drop([name], []),
    );
  }
  for (const kind of IDENTIFIER_KINDS) {
    n += await collectOne(ctx, kind, signal, async (now) => (await ctx.cache.ids([kind], config, now, signal)).get(kind)!, keys.idSet(kind), () =>
      ctx.cache.drop([], [kind]),
    );
  }
  // Pair spaces are not configured: the ones that exist have a guard key.
  const sets = await ctx.store.read([{ prefix: PAIR_SETS_PREFIX }], { signal });
  for (const space of sets.results[0]!.map((e) => e.key.slice(PAIR_SETS_PREFIX.length))) {
    n += await collectOne(ctx, `${space} pairs`, signal, async (now) => (await ctx.cache.pairs([space], config, now, signal)).get(space)!, keys.pairSet(space), () =>
      ctx.cache.drop([], [], [space]),
    );
  }
  return n;
}

async function collectOne(
  ctx: OpContext,
  what: string,
  signal: AbortSignal | undefined,
  index: (now: number) => Promise<PoolIndex | IdIndex | PairIndex>,
  guardKey: string,
  forget: () => void,
): Promise<number> {
  return transact<number>(
    ctx.store,
    async () => {
      const idx = await index(ctx.clock.now());
      const stale = idx.holds.stale;
      if (stale.length === 0) return { done: 0 };
      const tb = new TxnBuilder();
      for (const h of stale) tb.delete(h.key, h.modRevision);
      tb.put(guardKey, encode(idx.nextGuard()), idx.revision);
      return {
        txn: tb.build(),
        result: (revision) => {
          idx.committed(revision);
          return stale.length;
        },
      };
    },
    txOptions(ctx, `collect expired cooldowns of ${what}`, signal, forget),
  );
}
