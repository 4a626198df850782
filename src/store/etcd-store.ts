// The store contract (types.ts) on an etcd cluster, for several controllers
// sharing one state (Calico's and Flannel's choice; the contract was made
// etcd-shaped for this). The mapping is direct:
//
// - a store key K is the etcd key `<prefix>/kv/K`; a prefix query is one
//   range, in etcd's byte order, which equals the contract's order;
// - a commit is one etcd txn: a `mod_revision ==` compare per compare and per
//   op (0 = absent, as etcd compares a missing key), the puts and deletes on
//   success, and on failure a range of every compared key in the same txn, so
//   the conflicting keys are named from the very revision that failed;
// - a read of several queries is one read-only txn: one revision for all.
//
// Revisions: etcd's count every write in the cluster since it was made. A
// store's count from its creation: `<prefix>/meta` is created once, and its
// create revision is the store's revision 0, so a new store starts at 0 like
// the embedded one, and revisions stay stable across processes and restarts.
// Other writers in the cluster (another prefix, leader keys) only make gaps.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3, IRangeResponse, IRequestOp, ITxnResponse } from 'etcd3';
import { throwIfCancelled, UnavailableError } from '../errors.js';
import { EtcdMembers, etcdError, type EtcdClientOptions } from './etcd-client.js';
import { formatEtcdUrl, parseEtcdUrl, type EtcdLocation } from './etcd-url.js';
import { assertQuery, assertTxn, prefixEnd } from './keys.js';
import type { CallOptions, CommitResult, Entry, Query, Snapshot, Store, Txn, Watchable } from './types.js';
import { watchEtcd } from './etcd-watch.js';

export type EtcdStoreOptions = EtcdClientOptions;

/** An etcd store, with what the election and watches (etcd-election.ts, etcd-watch.ts) build on. */
export interface EtcdStore extends Store, Watchable {
  readonly location: EtcdLocation;
  readonly members: EtcdMembers;
  /** The store's revision 0 in etcd's count. */
  readonly base: number;
  /** The etcd key of a store key. */
  etcdKey(key: string): Buffer;
  /** A store key back from an etcd key under this store's prefix (undefined: not a data key). */
  storeKey(etcdKey: Buffer): string | undefined;
  /** An etcd entry as the contract's Entry. */
  entry(kv: { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; version: string }): Entry;
  /** Runs an idempotent call on the first member that answers. */
  anyMember<T>(op: string, fn: (c: Etcd3) => Promise<T>, opts?: CallOptions): Promise<T>;
}

// One etcd txn carries at most this many ranges in a read: under etcd's
// default --max-txn-ops (128); a longer read is several txns at one revision.
const READ_BATCH = 100;

export const isEtcdStore = (s: Store): s is EtcdStore => 'members' in s && 'etcdKey' in s;

export async function openEtcdStore(url: string | EtcdLocation, o: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const location = typeof url === 'string' ? parseEtcdUrl(url) : url;
  const where = formatEtcdUrl(location);
  const members = new EtcdMembers(location, o);
  const dataPrefix = `${location.prefix}/kv/`;
  const metaKey = Buffer.from(`${location.prefix}/meta`);
  let closed = false;

  const ensureOpen = (opts?: CallOptions): void => {
    if (closed) throw new UnavailableError(`store ${where}: closed`);
    throwIfCancelled(opts?.signal);
  };

  const anyMember = async <T>(op: string, fn: (c: Etcd3) => Promise<T>, opts?: CallOptions): Promise<T> => {
    let last: unknown;
    for (const i of members.order()) {
      throwIfCancelled(opts?.signal);
      try {
        const r = await fn(members.clients[i]!);
        members.answered(i);
        return r;
      } catch (e) {
        last = e;
        if (!retryable(e)) break;
      }
    }
    throw etcdError(op, where, last);
  };

  // The store's origin: created by the first process to open it.
  const meta = await anyMember('open', (c) =>
    c.kv.txn({
      compare: [{ key: metaKey, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: metaKey, value: Buffer.from(JSON.stringify({ format: 1 })) } }],
      failure: [{ request_range: { key: metaKey } }],
    }),
  ).catch((e) => { members.close(); throw e; });
  const base = meta.succeeded ? Number(meta.header.revision) : Number(meta.responses[0]!.response_range.kvs[0]!.create_revision);

  const etcdKey = (key: string): Buffer => Buffer.from(dataPrefix + key, 'latin1');
  const toStore = (rev: string | number): number => Math.max(0, Number(rev) - base);
  const toEtcd = (rev: number): number => (rev === 0 ? 0 : rev + base);
  const entry: EtcdStore['entry'] = (kv) => ({
    key: kv.key.toString('latin1').slice(dataPrefix.length),
    value: kv.value.toString('utf8'),
    createRevision: toStore(kv.create_revision),
    modRevision: toStore(kv.mod_revision),
    version: Number(kv.version),
  });
  const rangeOf = (q: Query, revision?: number): IRequestOp => {
    if ('key' in q) return { request_range: { key: etcdKey(q.key), ...(revision ? { revision } : {}) } };
    const start = dataPrefix + q.prefix;
    const end = prefixEnd(start);
    return { request_range: { key: Buffer.from(start, 'latin1'), range_end: end === undefined ? Buffer.from([0]) : Buffer.from(end, 'latin1'), ...(revision ? { revision } : {}) } };
  };

  const read = async (queries: readonly Query[], opts?: CallOptions): Promise<Snapshot> => {
    ensureOpen(opts);
    queries.forEach(assertQuery);
    // A read with nothing to read still says the store's revision.
    const all: Query[] = queries.length ? [...queries] : [{ key: 'meta' }];
    const results: Entry[][] = [];
    let revision: number | undefined;
    for (let at = 0; at < all.length; at += READ_BATCH) {
      const part = all.slice(at, at + READ_BATCH).map((q) => rangeOf(q, revision));
      const r: ITxnResponse = await anyMember('read', (c) => c.kv.txn({ compare: [], success: part, failure: [] }), opts);
      revision ??= Number(r.header.revision);
      for (const resp of r.responses) results.push(((resp.response_range as IRangeResponse).kvs ?? []).map(entry));
    }
    return { revision: toStore(revision!), results: queries.length ? results : [] };
  };

  const commit = async (txn: Txn, opts?: CallOptions): Promise<CommitResult> => {
    ensureOpen(opts);
    assertTxn(txn);
    const guards = [
      ...txn.compares.map((c) => ({ key: c.key, rev: c.modRevision })),
      ...txn.ops.map((op) => ({ key: op.key, rev: op.expect })),
    ];
    const request = {
      compare: guards.map((g) => ({ key: etcdKey(g.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: toEtcd(g.rev) })),
      success: txn.ops.map((op): IRequestOp => (op.type === 'put'
        ? { request_put: { key: etcdKey(op.key), value: Buffer.from(op.value, 'utf8') } }
        : { request_delete_range: { key: etcdKey(op.key) } })),
      failure: guards.map((g) => ({ request_range: { key: etcdKey(g.key), keys_only: true } })),
    };
    let last: unknown;
    for (const i of members.order()) {
      try {
        const r = await members.clients[i]!.kv.txn(request);
        members.answered(i);
        if (r.succeeded) return { ok: true, revision: toStore(r.header.revision) };
        const conflicts = new Set<string>();
        guards.forEach((g, n) => {
          const kv = r.responses[n]?.response_range.kvs?.[0];
          if ((kv ? toStore(kv.mod_revision) : 0) !== g.rev) conflicts.add(g.key);
        });
        return { ok: false, conflicts: [...conflicts] };
      } catch (e) {
        last = e;
        if (!retryable(e)) break;
        if (txn.ops.length === 0) continue; // compares only: asking again changes nothing
        // The answer is lost, not necessarily the commit: whether it happened
        // is asked of another member before anything is resent. A proposal the
        // lost member had forwarded commits within moments or never, and the
        // cluster may be electing a new raft leader meanwhile: ask a few times.
        let known: Awaited<ReturnType<typeof outcome>>;
        for (let look = 0; look < 4; look++) {
          if (look > 0) await sleep(250 * look);
          known = await outcome(txn, i).catch(() => undefined);
          if (known?.committed || (known && sentNowhere(e))) break;
        }
        if (known?.committed) return { ok: true, revision: known.revision };
        if (!known) break;
      }
    }
    throw etcdError('commit', where, last);
  };

  // Whether a txn whose answer was lost took effect, asked of another member:
  // a commit writes all its keys at one revision, so it happened if every put
  // key holds its value at one revision newer than expected and every deleted
  // key is gone; it did not if any key is still at the revision it expected.
  const outcome = async (txn: Txn, failed: number): Promise<{ committed: true; revision: number } | { committed: false } | undefined> => {
    const other = members.order().find((i) => i !== failed) ?? failed;
    const r = await members.clients[other]!.kv.txn({ compare: [], success: txn.ops.map((op) => rangeOf({ key: op.key })), failure: [] });
    const revs = new Set<number>();
    let applied = true;
    for (const [n, op] of txn.ops.entries()) {
      const kv = r.responses[n]?.response_range.kvs?.[0];
      const now = kv ? toStore(kv.mod_revision) : 0;
      // Untouched since: this op, hence the whole txn, did not happen (yet).
      if (now === op.expect) return { committed: false };
      if (op.type === 'put') {
        if (!kv || kv.value.toString('utf8') !== op.value) applied = false;
        revs.add(now);
      } else if (kv) applied = false;
    }
    if (!applied || revs.size > 1) return undefined;
    return { committed: true, revision: revs.size ? [...revs][0]! : toStore(r.header.revision) };
  };

  const store: EtcdStore = {
    location,
    members,
    base,
    etcdKey,
    storeKey: (k) => { const s = k.toString('latin1'); return s.startsWith(dataPrefix) ? s.slice(dataPrefix.length) : undefined; },
    entry,
    anyMember,
    read,
    commit,
    watch: (prefix, after, on) => watchEtcd(store, prefix, after, on),
    async close() {
      if (closed) return;
      closed = true;
      members.close();
    },
  };
  return store;
}

// Worth asking another member: the cluster or the connection failed, not the request.
function retryable(e: unknown): boolean {
  const name = (e as Error)?.constructor?.name ?? '';
  const msg = (e as Error)?.message ?? '';
  if (/InvalidArgument|ResourceExhast|Unauthenticated|PermissionDenied/.test(name)) return false;
  if (/too many operations|request is too large/.test(msg)) return false;
  return true;
}

// Failed before the request left this process (no connection at all).
function sentNowhere(e: unknown): boolean {
  const msg = (e as Error)?.message ?? '';
  return /No connection established|ECONNREFUSED|ENOENT|connect failed|Failed to connect|Broken circuit/i.test(msg);
}
