// The store contract. It is deliberately etcd-shaped so that the embedded
// SQLite store and a later etcd store are interchangeable:
//
// - keys are printable ASCII strings, values are strings (callers use JSON);
// - every commit bumps one store-wide revision; each key remembers the
//   revision of its last write (modRevision, etcd's mod_revision);
// - every write is a compare-and-swap: it names the modRevision it expects
//   the key to have (0 = the key must not exist), as Calico does with etcd.
//   Comparing on the global modRevision rather than a per-key counter means a
//   key deleted and re-created can never be mistaken for the one a reader saw.

export interface Entry {
  readonly key: string;
  readonly value: string;
  /** Revision of the commit that created the key. */
  readonly createRevision: number;
  /** Revision of the last commit that wrote the key; the CAS token. */
  readonly modRevision: number;
  /** Number of writes since the key was created (1 on create). */
  readonly version: number;
}

/** One exact key, or every key starting with a prefix (in key order). */
export type Query = { readonly key: string } | { readonly prefix: string };

export interface Snapshot {
  /** The store revision every result was read at. */
  readonly revision: number;
  /** One list per query, in query order; an absent key gives an empty list. */
  readonly results: readonly (readonly Entry[])[];
}

/** Guard without a write: the key must still be at this modRevision (0 = absent). */
export interface Compare {
  readonly key: string;
  readonly modRevision: number;
}

export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly expect: number }
  | { readonly type: 'delete'; readonly key: string; readonly expect: number };

/** All compares hold and all ops apply, atomically, or nothing happens. */
export interface Txn {
  readonly compares: readonly Compare[];
  readonly ops: readonly Op[];
}

export type CommitResult =
  | { readonly ok: true; readonly revision: number }
  | { readonly ok: false; readonly conflicts: readonly string[] };

export interface CallOptions {
  /**
   * The caller going away. Checked before a read and before a commit starts
   * (an aborted call throws CancelledError and writes nothing), never during
   * a commit: one that started completes and is reported.
   */
  readonly signal?: AbortSignal;
}

export interface Store {
  /** Reads several keys and prefixes at one consistent revision. */
  read(queries: readonly Query[], opts?: CallOptions): Promise<Snapshot>;
  /**
   * Applies a transaction if every compare and every op's `expect` matches
   * the current modRevision of its key; otherwise writes nothing and names
   * the keys that did not match. A key may appear in at most one op.
   */
  commit(txn: Txn, opts?: CallOptions): Promise<CommitResult>;
  close(): Promise<void>;
}

/** One key's change seen by a watch: its entry now, or undefined when it was deleted. */
export interface Change {
  readonly key: string;
  readonly entry: Entry | undefined;
}

export interface WatchHandlers {
  /** Changes committed after the last delivery, in revision order; `revision` is the newest. */
  changes(changes: readonly Change[], revision: number): void;
  /**
   * The watch lost its place (etcd compacted the revisions it had not seen
   * yet): here is everything under the prefix at `revision` instead; what
   * is not in it is gone.
   */
  relisted(entries: readonly Entry[], revision: number): void;
}

/** A store other processes write too (etcd), whose changes can be followed. */
export interface Watchable {
  /** Follows every key under `prefix` from just after `afterRevision`; close() stops. */
  watch(prefix: string, afterRevision: number, on: WatchHandlers): { close(): void };
}
