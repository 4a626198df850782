// The IPAM service: configuration, one transaction per slice at Allocate,
// provisioning, release with cooldown, and the expiry sweep. Every method
// that changes state runs through one in-process queue (plans use shared
// in-memory indices) and commits with compare-and-swap on every key its
// decision rested on, retrying when another process won the race.

import { AlreadyExistsError, IncompatibleStateError, NotFoundError } from '../errors.js';
import { transact, TxnBuilder, type CallOptions, type Entry, type Store } from '../store/index.js';
import { systemClock, type Clock } from './clock.js';
import { configToSpec, parseConfig, rangeText, type IpamConfig } from './config.js';
import { IndexCache } from './index-cache.js';
import { identifierCounts, planSlice, poolsFor, type Plan } from './plan.js';
import { containsPrefix, parsePrefix } from './prefix.js';
import {
  BLOCK_FIELDS,
  CONFIG_KEY,
  decode,
  encode,
  keys,
  LINKS_FIELDS,
  RUN_FIELDS,
  SET_FIELDS,
  SLICE_FIELDS,
  SLICES_PREFIX,
  type BlockRecord,
  type IdRunRecord,
  type SetRecord,
  type SliceLinksRecord,
  type SliceRecord,
} from './records.js';
import { parseSliceSpec } from './request.js';
import { SerialQueue } from './serial-queue.js';
import {
  IDENTIFIER_KINDS,
  type IdentifierKind,
  type IpamConfigSpec,
  type PoolUsage,
  type ReleaseResult,
  type SliceAllocation,
  type SliceSpec,
  type SliceSummary,
  type SweepResult,
} from './types.js';
import { formatPrefix } from './prefix.js';

export interface IpamOptions {
  readonly store: Store;
  readonly clock?: Clock;
  /** Attempts per transaction before giving up with UNAVAILABLE (default 40). */
  readonly maxAttempts?: number;
}

export interface Ipam {
  /** Replaces the configuration; refuses changes that would strand live or cooling allocations. Returns it resolved. */
  configure(spec: IpamConfigSpec, opts?: CallOptions): Promise<IpamConfigSpec>;
  /** The stored configuration, resolved, or undefined before the first configure. */
  getConfig(opts?: CallOptions): Promise<IpamConfigSpec | undefined>;
  /** Everything a slice needs, in one transaction; ALREADY_EXISTS if the slice has an allocation. */
  allocate(spec: SliceSpec, opts?: CallOptions): Promise<SliceAllocation>;
  get(slice: string, opts?: CallOptions): Promise<SliceAllocation | undefined>;
  /** Every slice with an allocation, without its links (for reconciliation after a restart). */
  list(opts?: CallOptions): Promise<SliceSummary[]>;
  /** Stops the expiry clock. Idempotent; FAILED_PRECONDITION once the allocation has expired. */
  markProvisioned(slice: string, opts?: CallOptions): Promise<SliceAllocation>;
  /** Puts the slice's blocks and identifiers into cooldown. Idempotent. */
  release(slice: string, opts?: CallOptions): Promise<ReleaseResult>;
  /** Releases allocations not provisioned in time and deletes cooldown records that ran out. */
  sweep(opts?: CallOptions): Promise<SweepResult>;
  usage(opts?: CallOptions): Promise<PoolUsage[]>;
}

export function createIpam(options: IpamOptions): Ipam {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const cache = new IndexCache(store);
  const queue = new SerialQueue();
  const txOpts = (what: string, signal: AbortSignal | undefined, onConflict?: () => void) => ({
    what,
    ...(signal ? { signal } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    ...(onConflict ? { onConflict } : {}),
  });

  // ---------------------------------------------------------------- allocate
  async function allocate(spec: SliceSpec, signal?: AbortSignal): Promise<SliceAllocation> {
    const request = parseSliceSpec(spec);
    const slice = request.slice;
    const kinds = [...identifierCounts(request).keys()];
    let poolNames: string[] = [];
    const forget = (): void => cache.drop(poolNames, kinds);
    try {
      return await transact<SliceAllocation>(
        store,
        async () => {
          const now = clock.now();
          const snap = await store.read([{ key: CONFIG_KEY }, { key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
          const [configEntry, header, linksEntry] = snap.results.map((r) => r[0]);
          const config = cache.config(configEntry);
          if (header) throw alreadyAllocated(decode<SliceRecord>(header, SLICE_FIELDS));
          if (linksEntry) throw new IncompatibleStateError(`slice "${slice}": store holds links without a slice header (${linksEntry.key}); run the IPAM check`);
          poolNames = [...new Set(request.blocks.flatMap((br) => poolsFor(br, config)))];
          const pools = await cache.pools(poolNames, config, now, signal);
          const ids = await cache.ids(kinds, config, now, signal);
          const plan = planSlice({ request, config, now, pools, ids });
          return { txn: allocationTxn(plan, configEntry!.modRevision).build(), result: (rev: number) => afterAllocation(plan, rev) };
        },
        txOpts(`allocate slice "${slice}"`, signal, forget),
      );
    } catch (err) {
      // A failed plan or commit may have taken space in the indices; rebuild them next time.
      forget();
      throw err;
    }
  }

  function allocationTxn(plan: Plan, configRevision: number): TxnBuilder {
    const tb = new TxnBuilder().compare(CONFIG_KEY, configRevision);
    const slice = plan.slice.slice;
    tb.put(keys.slice(slice), encode(plan.slice), 0);
    tb.put(keys.sliceLinks(slice), encode({ links: plan.links } satisfies SliceLinksRecord), 0);
    // Expired cooldown records go first: a new block may reuse the same key.
    for (const idx of new Set(plan.blocks.map((b) => b.index))) {
      for (const h of idx.holds.stale) tb.delete(h.key, h.modRevision);
      tb.put(keys.blockSet(idx.pool.name), encode({ changes: idx.changes + 1 } satisfies SetRecord), idx.revision);
    }
    for (const b of plan.blocks) tb.put(keys.block(b.index.pool.name, b.prefix), encode(b.record), 0);
    for (const p of plan.ids) {
      for (const h of p.index.holds.stale) tb.delete(h.key, h.modRevision);
      tb.put(keys.idSet(p.index.kind), encode({ changes: p.index.changes + 1, cursor: p.cursor } satisfies SetRecord), p.index.revision);
      for (const r of p.records) tb.put(keys.idRun(r.kind, r.start), encode(r), 0);
    }
    return tb;
  }

  // The indices already hold the plan's space; record the revision they now reflect.
  function afterAllocation(plan: Plan, revision: number): SliceAllocation {
    for (const idx of new Set(plan.blocks.map((b) => b.index))) {
      idx.holds.stale = [];
      idx.revision = revision;
      idx.changes++;
    }
    for (const b of plan.blocks) {
      b.index.holds.add({ key: keys.block(b.index.pool.name, b.prefix), modRevision: revision, record: b.record, prefix: b.prefix });
    }
    for (const p of plan.ids) {
      p.index.holds.stale = [];
      p.index.revision = revision;
      p.index.changes++;
      p.index.cursor = p.cursor;
      for (const r of p.records) p.index.holds.add({ key: keys.idRun(r.kind, r.start), modRevision: revision, record: r });
    }
    return toAllocation(plan.slice, { links: plan.links });
  }

  // ---------------------------------------------------------------- release
  async function release(slice: string, signal: AbortSignal | undefined, onlyIfExpiredBy?: number): Promise<ReleaseResult> {
    return transact<ReleaseResult>(
      store,
      async () => {
        const now = clock.now();
        const snap = await store.read([{ key: CONFIG_KEY }, { key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
        const [configEntry, headerEntry, linksEntry] = snap.results.map((r) => r[0]);
        if (!headerEntry) return { done: { slice, released: false } };
        const header = decode<SliceRecord>(headerEntry, SLICE_FIELDS);
        if (onlyIfExpiredBy !== undefined && !isExpired(header, onlyIfExpiredBy)) return { done: { slice, released: false } };
        const config = cache.config(configEntry);
        const until = now + config.cooldownMs;

        const blocks = header.blocks.map((b) => ({ pool: b.pool, key: keys.block(b.pool, parsePrefix(b.prefix, `slice "${slice}" block`)) }));
        const pools = [...new Set(blocks.map((b) => b.pool))];
        const runs = header.idRuns.map((r) => ({ kind: r.kind, key: keys.idRun(r.kind, r.start) }));
        const kinds = [...new Set(runs.map((r) => r.kind))];
        const held = await store.read(
          [...blocks, ...runs].map((h) => ({ key: h.key })).concat(pools.map((p) => ({ key: keys.blockSet(p) })), kinds.map((k) => ({ key: keys.idSet(k) }))),
          { signal },
        );
        const at = (i: number): Entry | undefined => held.results[i]![0];
        const blockEntries = blocks.map((_, i) => at(i));
        const runEntries = runs.map((_, i) => at(blocks.length + i));
        const poolGuards = pools.map((_, i) => at(blocks.length + runs.length + i));
        const kindGuards = kinds.map((_, i) => at(blocks.length + runs.length + pools.length + i));

        const tb = new TxnBuilder().compare(CONFIG_KEY, configEntry!.modRevision);
        tb.delete(headerEntry.key, headerEntry.modRevision);
        if (linksEntry) tb.delete(linksEntry.key, linksEntry.modRevision);
        const cool = <R extends { slice: string; state: string }>(e: Entry | undefined, fields: readonly (keyof R & string)[]): R | undefined => {
          if (!e) return undefined;
          const r = decode<R>(e, fields);
          if (r.slice !== slice || r.state !== 'live') return undefined;
          const next = config.cooldownMs > 0 ? { ...r, state: 'cooldown', until } : undefined;
          if (next) tb.put(e.key, encode(next), e.modRevision);
          else tb.delete(e.key, e.modRevision);
          return next as R | undefined;
        };
        const blockUpdates = blockEntries.map((e) => ({ e, next: cool<BlockRecord>(e, BLOCK_FIELDS) }));
        const runUpdates = runEntries.map((e) => ({ e, next: cool<IdRunRecord>(e, RUN_FIELDS) }));
        const bump = (key: string, guard: Entry | undefined): void => {
          const set = guard ? decode<SetRecord>(guard, SET_FIELDS) : { changes: 0 };
          tb.put(key, encode({ ...set, changes: set.changes + 1 }), guard?.modRevision ?? 0);
        };
        pools.forEach((p, i) => bump(keys.blockSet(p), poolGuards[i]));
        kinds.forEach((k, i) => bump(keys.idSet(k), kindGuards[i]));

        return {
          txn: tb.build(),
          result: (revision: number): ReleaseResult => {
            // Patch indices that were current before our commit; drop the others.
            pools.forEach((p, i) => {
              const idx = cache.poolAt(p, poolGuards[i]?.modRevision ?? 0);
              if (!idx) return cache.drop([p], []);
              for (const { e, next } of blockUpdates) {
                const h = e && idx.holds.byKey.get(e.key);
                if (!h) continue;
                if (next) idx.holds.add({ ...h, modRevision: revision, record: next });
                else {
                  idx.holds.byKey.delete(h.key);
                  idx.space.release(h.prefix.start, h.prefix.length);
                }
              }
              idx.revision = revision;
              idx.changes++;
            });
            kinds.forEach((k, i) => {
              const idx = cache.idsAt(k, kindGuards[i]?.modRevision ?? 0);
              if (!idx) return cache.drop([], [k]);
              for (const { e, next } of runUpdates) {
                const h = e && idx.holds.byKey.get(e.key);
                if (!h) continue;
                if (next) idx.holds.add({ ...h, modRevision: revision, record: next });
                else {
                  idx.holds.byKey.delete(h.key);
                  idx.space.release({ start: h.record.start, count: h.record.count });
                }
              }
              idx.revision = revision;
              idx.changes++;
            });
            return { slice, released: true, ...(config.cooldownMs > 0 ? { cooldownUntil: until } : {}) };
          },
        };
      },
      txOpts(`release slice "${slice}"`, signal, () => cache.dropAll()),
    );
  }

  // ---------------------------------------------------------------- provision
  async function markProvisioned(slice: string, signal?: AbortSignal): Promise<SliceAllocation> {
    return transact<SliceAllocation>(
      store,
      async () => {
        const now = clock.now();
        const snap = await store.read([{ key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
        const [headerEntry, linksEntry] = snap.results.map((r) => r[0]);
        if (!headerEntry) throw new NotFoundError(`slice "${slice}": no allocation`, { field: 'slice' });
        const header = decode<SliceRecord>(headerEntry, SLICE_FIELDS);
        const links = linksEntry ? decode<SliceLinksRecord>(linksEntry, LINKS_FIELDS) : { links: [] };
        if (header.state === 'provisioned') return { done: toAllocation(header, links) };
        if (isExpired(header, now)) {
          throw new IncompatibleStateError(
            `slice "${slice}": allocation expired at ${new Date(header.expiresAt!).toISOString()} before it was provisioned; allocate again`,
          );
        }
        const { expiresAt: _expired, ...rest } = header;
        const next: SliceRecord = { ...rest, state: 'provisioned', provisionedAt: now };
        return {
          txn: new TxnBuilder().put(headerEntry.key, encode(next), headerEntry.modRevision).build(),
          result: () => toAllocation(next, links),
        };
      },
      txOpts(`provision slice "${slice}"`, signal),
    );
  }

  // ---------------------------------------------------------------- sweep
  async function sweep(signal?: AbortSignal): Promise<SweepResult> {
    const now = clock.now();
    const snap = await store.read([{ prefix: SLICES_PREFIX }, { key: CONFIG_KEY }], { signal });
    const expired: string[] = [];
    for (const e of snap.results[0]!) {
      const header = decode<SliceRecord>(e, SLICE_FIELDS);
      if (!isExpired(header, now)) continue;
      // Re-checked inside the release txn: it may have been provisioned meanwhile.
      if ((await release(header.slice, signal, now)).released) expired.push(header.slice);
    }
    const configEntry = snap.results[1]![0];
    const collected = configEntry ? await collect(cache.config(configEntry), signal) : 0;
    return { expired, collected };
  }

  // Deletes cooldown records that ran out, one guarded txn per pool or kind.
  async function collect(config: IpamConfig, signal?: AbortSignal): Promise<number> {
    let n = 0;
    const names = config.pools.map((p) => p.name);
    for (const name of names) {
      n += await transact<number>(
        store,
        async () => {
          const idx = (await cache.pools([name], config, clock.now(), signal)).get(name)!;
          if (idx.holds.stale.length === 0) return { done: 0 };
          const tb = new TxnBuilder();
          for (const h of idx.holds.stale) tb.delete(h.key, h.modRevision);
          tb.put(keys.blockSet(name), encode({ changes: idx.changes + 1 } satisfies SetRecord), idx.revision);
          const count = idx.holds.stale.length;
          return {
            txn: tb.build(),
            result: (revision: number) => {
              idx.holds.stale = [];
              idx.revision = revision;
              idx.changes++;
              return count;
            },
          };
        },
        txOpts(`collect pool "${name}"`, signal, () => cache.drop([name], [])),
      );
    }
    for (const kind of IDENTIFIER_KINDS) {
      n += await transact<number>(
        store,
        async () => {
          const idx = (await cache.ids([kind], config, clock.now(), signal)).get(kind)!;
          if (idx.holds.stale.length === 0) return { done: 0 };
          const tb = new TxnBuilder();
          for (const h of idx.holds.stale) tb.delete(h.key, h.modRevision);
          tb.put(keys.idSet(kind), encode({ changes: idx.changes + 1, cursor: idx.cursor } satisfies SetRecord), idx.revision);
          const count = idx.holds.stale.length;
          return {
            txn: tb.build(),
            result: (revision: number) => {
              idx.holds.stale = [];
              idx.revision = revision;
              idx.changes++;
              return count;
            },
          };
        },
        txOpts(`collect ${kind}`, signal, () => cache.drop([], [kind])),
      );
    }
    return n;
  }

  // ---------------------------------------------------------------- configure
  async function configure(spec: IpamConfigSpec, signal?: AbortSignal): Promise<IpamConfigSpec> {
    const next = parseConfig(spec);
    const nextSpec = configToSpec(next);
    const text = encode(nextSpec);
    return transact<IpamConfigSpec>(
      store,
      async () => {
        const now = clock.now();
        const configEntry = (await store.read([{ key: CONFIG_KEY }], { signal })).results[0]![0];
        if (configEntry?.value === text) return { done: nextSpec };
        const prev = configEntry ? cache.config(configEntry) : undefined;
        const tb = new TxnBuilder().put(CONFIG_KEY, text, configEntry?.modRevision ?? 0);
        const problems: string[] = [];
        // Pools that went away or changed in a way their blocks may not survive.
        const touched = (prev?.pools ?? []).filter((p) => {
          const q = next.pools.find((x) => x.name === p.name);
          return !q || q.class !== p.class || formatPrefix(q.prefix) !== formatPrefix(p.prefix);
        });
        const kinds = IDENTIFIER_KINDS.filter((k) => prev && JSON.stringify(prev.identifiers[k]) !== JSON.stringify(next.identifiers[k]));
        const snap = await store.read(
          [...touched.flatMap((p) => [{ key: keys.blockSet(p.name) }, { prefix: keys.blocksOf(p.name) }]), ...kinds.flatMap((k) => [{ key: keys.idSet(k) }, { prefix: keys.idsOf(k) }])],
          { signal },
        );
        touched.forEach((p, i) => {
          const guard = snap.results[2 * i]![0];
          const q = next.pools.find((x) => x.name === p.name);
          const stale: Entry[] = [];
          for (const e of snap.results[2 * i + 1]!) {
            const r = decode<BlockRecord>(e, BLOCK_FIELDS);
            if (r.state === 'cooldown' && (r.until ?? 0) <= now) stale.push(e);
            else if (!q) problems.push(`pool "${p.name}": cannot remove it: ${holdText(r)}`);
            else if (q.class !== p.class) problems.push(`pool "${p.name}": cannot change class ${p.class} → ${q.class}: ${holdText(r)}`);
            else if (!containsPrefix(q.prefix, parsePrefix(r.prefix, e.key))) {
              problems.push(`pool "${p.name}": cannot change prefix to ${formatPrefix(q.prefix)}: ${holdText(r)}`);
            }
          }
          for (const e of stale) tb.delete(e.key, e.modRevision);
          if (stale.length > 0) tb.put(keys.blockSet(p.name), encode({ changes: decodeSet(guard).changes + 1 }), guard?.modRevision ?? 0);
          else tb.compare(keys.blockSet(p.name), guard?.modRevision ?? 0);
        });
        kinds.forEach((k, i) => {
          const off = touched.length * 2;
          tb.compare(keys.idSet(k), snap.results[off + 2 * i]![0]?.modRevision ?? 0);
          for (const e of snap.results[off + 2 * i + 1]!) {
            const r = decode<IdRunRecord>(e, RUN_FIELDS);
            if (r.state === 'cooldown' && (r.until ?? 0) <= now) continue;
            const inside = next.identifiers[k].some((g) => r.start >= g.first && r.start + r.count - 1 <= g.last);
            if (!inside) problems.push(`${k}: new ranges ${next.identifiers[k].map(rangeText).join(', ')} leave out ${rangeText({ first: r.start, last: r.start + r.count - 1 })}: ${holdText(r)}`);
          }
        });
        if (problems.length > 0) {
          throw new IncompatibleStateError(`ipam config: ${problems.length} change(s) would strand allocations: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`, {
            diff: problems,
          });
        }
        return {
          txn: tb.build(),
          result: () => {
            cache.dropAll();
            return nextSpec;
          },
        };
      },
      txOpts('configure ipam', signal),
    );
  }

  // ---------------------------------------------------------------- reads
  async function get(slice: string, signal?: AbortSignal): Promise<SliceAllocation | undefined> {
    const snap = await store.read([{ key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
    const [headerEntry, linksEntry] = snap.results.map((r) => r[0]);
    if (!headerEntry) return undefined;
    return toAllocation(decode<SliceRecord>(headerEntry, SLICE_FIELDS), linksEntry ? decode<SliceLinksRecord>(linksEntry, LINKS_FIELDS) : { links: [] });
  }

  async function list(signal?: AbortSignal): Promise<SliceSummary[]> {
    const snap = await store.read([{ prefix: SLICES_PREFIX }], { signal });
    return snap.results[0]!.map((e) => {
      const { links: _none, ...summary } = toAllocation(decode<SliceRecord>(e, SLICE_FIELDS), { links: [] });
      return summary;
    });
  }

  async function usage(signal?: AbortSignal): Promise<PoolUsage[]> {
    const configEntry = (await store.read([{ key: CONFIG_KEY }], { signal })).results[0]![0];
    if (!configEntry) return [];
    const config = cache.config(configEntry);
    const pools = await cache.pools(config.pools.map((p) => p.name), config, clock.now(), signal);
    return config.pools.map((p): PoolUsage => {
      const idx = pools.get(p.name)!;
      const { live, cooling } = idx.holds.counts();
      const largest = idx.space.largestFree();
      return {
        pool: p.name,
        prefix: formatPrefix(p.prefix),
        class: p.class,
        family: p.family,
        liveBlocks: live,
        coolingBlocks: cooling,
        freeAddresses: idx.space.freeAddresses(),
        ...(largest !== undefined ? { largestFreeLength: largest } : {}),
      };
    });
  }

  return {
    configure: (spec, opts) => queue.run(() => configure(spec, opts?.signal), opts?.signal),
    getConfig: async (opts) => {
      const e = (await store.read([{ key: CONFIG_KEY }], opts)).results[0]![0];
      return e ? configToSpec(cache.config(e)) : undefined;
    },
    allocate: (spec, opts) => queue.run(() => allocate(spec, opts?.signal), opts?.signal),
    get: (slice, opts) => get(slice, opts?.signal),
    list: (opts) => list(opts?.signal),
    markProvisioned: (slice, opts) => queue.run(() => markProvisioned(slice, opts?.signal), opts?.signal),
    release: (slice, opts) => queue.run(() => release(slice, opts?.signal), opts?.signal),
    sweep: (opts) => queue.run(() => sweep(opts?.signal), opts?.signal),
    usage: (opts) => queue.run(() => usage(opts?.signal), opts?.signal),
  };
}

const isExpired = (h: SliceRecord, now: number): boolean => h.state === 'allocated' && h.expiresAt !== undefined && h.expiresAt <= now;

const decodeSet = (e: Entry | undefined): SetRecord => (e ? decode<SetRecord>(e, SET_FIELDS) : { changes: 0 });

function holdText(r: { slice: string; state: string; until?: number }): string {
  return r.state === 'live' ? `held by slice "${r.slice}"` : `cooling down after slice "${r.slice}" until ${new Date(r.until ?? 0).toISOString()}`;
}

function alreadyAllocated(h: SliceRecord): AlreadyExistsError {
  const when = h.state === 'allocated' && h.expiresAt !== undefined ? `, expires ${new Date(h.expiresAt).toISOString()}` : '';
  return new AlreadyExistsError(`slice "${h.slice}": already has an allocation (${h.state}${when}); release it first`, { field: 'slice' });
}

function toAllocation(h: SliceRecord, l: SliceLinksRecord): SliceAllocation {
  return {
    slice: h.slice,
    state: h.state,
    allocatedAt: h.allocatedAt,
    ...(h.expiresAt !== undefined ? { expiresAt: h.expiresAt } : {}),
    ...(h.provisionedAt !== undefined ? { provisionedAt: h.provisionedAt } : {}),
    ...(h.groupId !== undefined ? { groupId: h.groupId } : {}),
    blocks: h.blocks,
    links: l.links,
  };
}

export type { IdentifierKind };
