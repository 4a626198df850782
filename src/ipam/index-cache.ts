// The IPAM's in-memory view of the store: the parsed configuration and one
// index per pool and identifier kind, each tagged with the revision of the
// guard key it reflects. Getting an index costs one point read of the guard
// keys; only when another writer has moved a guard is its index rebuilt
// from a range read, at one consistent snapshot with the guard.

import { IncompatibleStateError } from '../errors.js';
import type { Entry, Store } from '../store/index.js';
import { parseConfig, type IpamConfig, type Pool } from './config.js';
import { IdIndex } from './id-index.js';
import { PoolIndex } from './pool-index.js';
import { decode, keys } from './records.js';
import type { IdentifierKind, IpamConfigSpec } from './types.js';

export class IndexCache {
  readonly #store: Store;
  #config?: { revision: number; config: IpamConfig };
  readonly #pools = new Map<string, PoolIndex>();
  readonly #ids = new Map<IdentifierKind, IdIndex>();

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

  async pools(names: readonly string[], config: IpamConfig, now: number, signal?: AbortSignal): Promise<Map<string, PoolIndex>> {
    const byName = new Map(config.pools.map((p) => [p.name, p]));
    const guards = await this.#store.read(names.map((n) => ({ key: keys.blockSet(n) })), { signal });
    const stale = names.filter((n, i) => {
      const idx = this.#pools.get(n);
      return !idx || idx.revision !== (guards.results[i]![0]?.modRevision ?? 0) || !samePool(idx.pool, byName.get(n)!);
    });
    if (stale.length > 0) {
      const snap = await this.#store.read(stale.flatMap((n) => [{ key: keys.blockSet(n) }, { prefix: keys.blocksOf(n) }]), { signal });
      stale.forEach((n, i) => {
        this.#pools.set(n, PoolIndex.build(byName.get(n)!, snap.results[2 * i]![0], snap.results[2 * i + 1]!, now));
      });
    }
    return new Map(
      names.map((n) => {
        const idx = this.#pools.get(n)!;
        idx.expire(now);
        return [n, idx];
      }),
    );
  }

  async ids(kinds: readonly IdentifierKind[], config: IpamConfig, now: number, signal?: AbortSignal): Promise<Map<IdentifierKind, IdIndex>> {
    const guards = await this.#store.read(kinds.map((k) => ({ key: keys.idSet(k) })), { signal });
    const stale = kinds.filter((k, i) => {
      const idx = this.#ids.get(k);
      return !idx || idx.revision !== (guards.results[i]![0]?.modRevision ?? 0) || !idx.sameRanges(config.identifiers[k]);
    });
    if (stale.length > 0) {
      const snap = await this.#store.read(stale.flatMap((k) => [{ key: keys.idSet(k) }, { prefix: keys.idsOf(k) }]), { signal });
      stale.forEach((k, i) => {
        this.#ids.set(k, IdIndex.build(k, config.identifiers[k], snap.results[2 * i]![0], snap.results[2 * i + 1]!, now));
      });
    }
    return new Map(
      kinds.map((k) => {
        const idx = this.#ids.get(k)!;
        idx.expire(now);
        return [k, idx];
      }),
    );
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

  /** Forget indices whose in-memory state may no longer match the store. */
  drop(pools: Iterable<string>, kinds: Iterable<IdentifierKind>): void {
    for (const n of pools) this.#pools.delete(n);
    for (const k of kinds) this.#ids.delete(k);
  }

  dropAll(): void {
    this.#config = undefined;
    this.#pools.clear();
    this.#ids.clear();
  }
}

// Pools come from one parsed configuration per revision, so identity is the usual answer.
const samePool = (a: Pool, b: Pool): boolean =>
  a === b ||
  (a.name === b.name && a.class === b.class && a.prefix.start === b.prefix.start && a.prefix.length === b.prefix.length &&
    a.defaultBlockLength === b.defaultBlockLength && a.largestBlockLength === b.largestBlockLength);
