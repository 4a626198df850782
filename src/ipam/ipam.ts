// The IPAM service. Every method that changes state runs through one
// in-process queue (plans share in-memory indices) and commits with
// compare-and-swap on every key its decision rested on, retrying when
// another process won the race; the operations themselves live in op-*.ts.

import type { CallOptions, Store } from '../store/index.js';
import { systemClock, type Clock } from './clock.js';
import { configToSpec } from './config.js';
import { IndexCache } from './index-cache.js';
import { allocateOp } from './op-allocate.js';
import { configureOp } from './op-configure.js';
import type { OpContext, WriteOptions } from './op-context.js';
import { markProvisionedOp } from './op-provision.js';
import { releaseOp } from './op-release.js';
import { sweepOp } from './op-sweep.js';
import { formatPrefix } from './prefix.js';
import { CONFIG_KEY, decode, keys, LINKS_FIELDS, SLICE_FIELDS, SLICES_PREFIX, type SliceLinksRecord, type SliceRecord } from './records.js';
import { SerialQueue } from './serial-queue.js';
import { toAllocation, toSummary } from './slice-view.js';
import { IDENTIFIER_KINDS, type IdentifierUsage, type IpamConfigSpec, type PoolUsage, type ReleaseResult, type SliceAllocation, type SliceSpec, type SliceSummary, type SweepResult } from './types.js';

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
  /**
   * Everything a slice needs, in one transaction; ALREADY_EXISTS if the slice has an allocation.
   * `also`: the caller's records, written in that same transaction (see Also).
   */
  allocate(spec: SliceSpec, opts?: WriteOptions<SliceAllocation>): Promise<SliceAllocation>;
  get(slice: string, opts?: CallOptions): Promise<SliceAllocation | undefined>;
  /** Every slice with an allocation, without its links (for reconciliation after a restart). */
  list(opts?: CallOptions): Promise<SliceSummary[]>;
  /** Stops the expiry clock. Idempotent; FAILED_PRECONDITION once the allocation has expired. `also` as for allocate. */
  markProvisioned(slice: string, opts?: WriteOptions<SliceAllocation>): Promise<SliceAllocation>;
  /** Puts the slice's blocks and identifiers into cooldown. Idempotent. `also` as for allocate (written even when nothing was held). */
  release(slice: string, opts?: WriteOptions<ReleaseResult>): Promise<ReleaseResult>;
  /**
   * Releases allocations not provisioned in time and deletes cooldown records that ran out.
   * `keep`: allocations whose owner releases them itself, with its own records (a controller's slices).
   */
  sweep(opts?: CallOptions & { readonly keep?: (slice: string) => boolean }): Promise<SweepResult>;
  usage(opts?: CallOptions): Promise<PoolUsage[]>;
  /** Per identifier kind, its ranges' size and how many are free. */
  identifierUsage(opts?: CallOptions): Promise<IdentifierUsage[]>;
}

export function createIpam(options: IpamOptions): Ipam {
  const ctx: OpContext = {
    store: options.store,
    cache: new IndexCache(options.store),
    clock: options.clock ?? systemClock,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
  const queue = new SerialQueue();
  const serial = <T>(opts: CallOptions | undefined, job: (signal?: AbortSignal) => Promise<T>): Promise<T> =>
    queue.run(() => job(opts?.signal), opts?.signal);

  return {
    configure: (spec, opts) => serial(opts, (signal) => configureOp(ctx, spec, signal)),
    getConfig: (opts) => getConfig(ctx, opts?.signal),
    allocate: (spec, opts) => serial(opts, (signal) => allocateOp(ctx, spec, signal, opts?.also)),
    get: (slice, opts) => get(ctx, slice, opts?.signal),
    list: (opts) => list(ctx, opts?.signal),
    markProvisioned: (slice, opts) => serial(opts, (signal) => markProvisionedOp(ctx, slice, signal, opts?.also)),
    release: (slice, opts) => serial(opts, (signal) => releaseOp(ctx, slice, signal, undefined, opts?.also)),
    sweep: (opts) => serial(opts, (signal) => sweepOp(opts?.keep ? { ...ctx, keep: opts.keep } : ctx, signal)),
    // Reads the shared indices, so it waits its turn like a mutation.
    usage: (opts) => serial(opts, (signal) => usage(ctx, signal)),
    identifierUsage: (opts) => serial(opts, (signal) => identifierUsage(ctx, signal)),
  };
}

async function getConfig(ctx: OpContext, signal?: AbortSignal): Promise<IpamConfigSpec | undefined> {
  const e = (await ctx.store.read([{ key: CONFIG_KEY }], { signal })).results[0]![0];
  return e ? configToSpec(ctx.cache.config(e)) : undefined;
}

async function get(ctx: OpContext, slice: string, signal?: AbortSignal): Promise<SliceAllocation | undefined> {
  const snap = await ctx.store.read([{ key: keys.slice(slice) }, { key: keys.sliceLinks(slice) }], { signal });
  const [header, links] = snap.results.map((r) => r[0]);
  if (!header) return undefined;
  return toAllocation(decode<SliceRecord>(header, SLICE_FIELDS), links ? decode<SliceLinksRecord>(links, LINKS_FIELDS) : { links: [] });
}

async function list(ctx: OpContext, signal?: AbortSignal): Promise<SliceSummary[]> {
  const snap = await ctx.store.read([{ prefix: SLICES_PREFIX }], { signal });
  return snap.results[0]!.map((e) => toSummary(decode<SliceRecord>(e, SLICE_FIELDS)));
}

async function identifierUsage(ctx: OpContext, signal?: AbortSignal): Promise<IdentifierUsage[]> {
  const configEntry = (await ctx.store.read([{ key: CONFIG_KEY }], { signal })).results[0]![0];
  if (!configEntry) return [];
  const config = ctx.cache.config(configEntry);
  const ids = await ctx.cache.ids(IDENTIFIER_KINDS, config, ctx.clock.now(), signal);
  return IDENTIFIER_KINDS.map((kind): IdentifierUsage => ({
    kind,
    size: config.identifiers[kind].reduce((n, r) => n + r.last - r.first + 1, 0),
    free: ids.get(kind)!.space.free(),
  }));
}

async function usage(ctx: OpContext, signal?: AbortSignal): Promise<PoolUsage[]> {
  const configEntry = (await ctx.store.read([{ key: CONFIG_KEY }], { signal })).results[0]![0];
  if (!configEntry) return [];
  const config = ctx.cache.config(configEntry);
  const pools = await ctx.cache.pools(config.pools.map((p) => p.name), config, ctx.clock.now(), signal);
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
