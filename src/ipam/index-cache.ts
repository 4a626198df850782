// The IPAM's in-memory view of the store: the parsed configuration and one
// index per pool, identifier kind and underlay pair space, each tagged with the revision of the
// guard key it reflects. Getting an index costs one point read of the guard
// keys; only when another writer has moved a guard is its index rebuilt
// from a range read, at one consistent snapshot with the guard.

import { IncompatibleStateError } from '../errors.js';
import type { Entry, Store } from '../store/index.js';
import { parseConfig, type IpamConfig, type Pool } from './config.js';
import { IdIndex } from './id-index.js';
import { PairIndex } from './pair-index.js';
import { PoolIndex } from './pool-index.js';
import { decode, keys } from './records.js';
import type { IdentifierKind, IpamConfigSpec } from './types.js';

export class IndexCache {
  readonly #store: Store;
  #config?: { revision: number; config: IpamConfig };
  readonly #pools = new Map<string, PoolIndex>();
  readonly #ids = new Map<IdentifierKind, IdIndex>();
  readonly #pairs = new Map<string, PairIndex>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** The configuration stored in `entry`, parsed once per revision. */
  config(entry: Entry | undefined): IpamConfig {
    if (!entry) throw new IncompatibleStateError('ipam: no configuration yet; apply a pool configuration first');
    if (this.#config?.revision !== entry.modRevision) {
      this.#config = { revision: entry.modRevision, config: parseConfig(decode<IpamConfigSpec>(entry, ['pools'])) };
    }
    return this.#config.config;
  }

  /**
   * Up-to-date indices for these pools, identifier kinds and pair spaces:
   * one point read of all their guards, and one range read for those that moved.
   */
  async indices(
    names: readonly string[],
    kinds: readonly IdentifierKind[],
    spaces: readonly string[],
    config: IpamConfig,
    now: number,
    signal?: AbortSignal,
  ): Promise<{ pools: Map<string, PoolIndex>; ids: Map<IdentifierKind, IdIndex>; pairs: Map<string, PairIndex> }> {
    const byName = new Map(config.pools.map((p) => [p.name, p]));
    const guards = await this.#store.read(
      [...names.map((n) => ({ key: keys.blockSet(n) })), ...kinds.map((k) => ({ key: keys.idSet(k) })), ...spaces.map((sp) => ({ key: keys.pairSet(sp) }))],
      { signal },
    );
    const guardRevision = (i: number): number => guards.results[i]![0]?.modRevision ?? 0;
    const stalePools = names.filter((n, i) => {
      const idx = this.#pools.get(n);
      return !idx || idx.revision !== guardRevision(i) || !samePool(idx.pool, byName.get(n)!);
    });
    const staleKinds = kinds.filter((k, i) => {
      const idx = this.#ids.get(k);
      return !idx || idx.revision !== guardRevision(names.length + i) || !idx.sameRanges(config.identifiers[k]);
    });
    const staleSpaces = spaces.filter((sp, i) => this.#pairs.get(sp)?.revision !== guardRevision(names.length + kinds.length + i));
    if (stalePools.length + staleKinds.length + staleSpaces.length > 0) {
      const snap = await this.#store.read(
        [
          ...stalePools.flatMap((n) => [{ key: keys.blockSet(n) }, { prefix: keys.blocksOf(n) }]),
          ...staleKinds.flatMap((k) => [{ key: keys.idSet(k) }, { prefix: keys.idsOf(k) }]),
          ...staleSpaces.flatMap((sp) => [{ key: keys.pairSet(sp) }, { prefix: keys.pairsOf(sp) }]),
        ],
        { signal },
      );
      stalePools.forEach((n, i) => {
        this.#pools.set(n, PoolIndex.build(byName.get(n)!, snap.results[2 * i]![0], snap.results[2 * i + 1]!, now));
      });
      const at = 2 * stalePools.length;
      staleKinds.forEach((k, i) => {
        this.#ids.set(k, IdIndex.build(k, config.identifiers[k], snap.results[at + 2 * i]![0], snap.results[at + 2 * i + 1]!, now));
      });
      const at2 = at + 2 * staleKinds.length;
      staleSpaces.forEach((sp, i) => {
        this.#pairs.set(sp, PairIndex.build(sp, snap.results[at2 + 2 * i]![0], snap.results[at2 + 2 * i + 1]!, now));
      });
    }
    const current = <K, I extends { expire(now: number): void }>(ks: readonly K[], cached: Map<K, I>): Map<K, I> =>
      new Map(
        ks.map((k) => {
          const idx = cached.get(k)!;
          idx.expire(now);
          return [k, idx];
        }),
      );
    return { pools: current(names, this.#pools), ids: current(kinds, this.#ids), pairs: current(spaces, this.#pairs) };
  }

  async pools(names: readonly string[], config: IpamConfig, now: number, signal?: AbortSignal): Promise<Map<string, PoolIndex>> {
    return (await this.indices(names, [], [], config, now, signal)).pools;
  }

  async ids(kinds: readonly IdentifierKind[], config: IpamConfig, now: number, signal?: AbortSignal): Promise<Map<IdentifierKind, IdIndex>> {
    return (await this.indices([], kinds, [], config, now, signal)).ids;
  }

  async pairs(spaces: readonly string[], config: IpamConfig, now: number, signal?: AbortSignal): Promise<Map<string, PairIndex>> {
    return (await this.indices([], [], spaces, config, now, signal)).pairs;
  }

  /** Cached index at exactly this guard revision, if any (to patch after our own commit). */
  poolAt(name: string, revision: number): PoolIndex | undefined {
    const idx = this.#pools.get(name);
    return idx?.revision === revision ? idx : undefined;
  }

  idsAt(kind: IdentifierKind, revision: number): IdIndex | undefined {
    const idx = this.#ids.get(kind);
    return idx?.revision === revision ? idx : undefined;
  }

  pairsAt(space: string, revision: number): PairIndex | undefined {
    const idx = this.#pairs.get(space);
    return idx?.revision === revision ? idx : undefined;
  }

  /** Forget indices whose in-memory state may no longer match the store. */
  drop(pools: Iterable<string>, kinds: Iterable<IdentifierKind>, spaces: Iterable<string> = []): void {
    for (const n of pools) this.#pools.delete(n);
    for (const k of kinds) this.#ids.delete(k);
    for (const sp of spaces) this.#pairs.delete(sp);
  }

  dropAll(): void {
    this.#config = undefined;
    this.#pools.clear();
    this.#ids.clear();
    this.#pairs.clear();
  }
}

// Pools come from one parsed configuration per revision, so identity is the usual answer.
const samePool = (a: Pool, b: Pool): boolean =>
  a === b ||
  (a.name === b.name && a.class === b.class && a.prefix.start === b.prefix.start && a.prefix.length === b.prefix.length &&
    a.defaultBlockLength === b.defaultBlockLength && a.largestBlockLength === b.largestBlockLength);
