// The store: an etcd-shaped key/value contract (types.ts) with an embedded
// SQLite implementation as the default and an in-memory one for tests.
export type { CallOptions, CommitResult, Compare, Entry, Op, Query, Snapshot, Store, Txn } from './types.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { openSqliteStoreThreaded } from './sqlite-thread.js';
export { createMemoryStore } from './memory-store.js';
export { TxnBuilder } from './txn-builder.js';
export { transact, type Attempt, type TransactOptions } from './transact.js';
