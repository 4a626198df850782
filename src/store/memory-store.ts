// An in-process store with the same semantics as the SQLite one. It is the
// reference the store contract tests hold every implementation to, and lets
// unit tests run without a file. Not durable, not shared between processes.

import { throwIfCancelled } from '../errors.js';
import { assertQuery, assertTxn, prefixEnd } from './keys.js';
import type { CallOptions, CommitResult, Entry, Query, Snapshot, Store, Txn } from './types.js';

export function createMemoryStore(): Store {
  const data = new Map<string, Entry>();
  let revision = 0;
  let closed = false;

  const ensureOpen = (opts?: CallOptions): void => {
    if (closed) throw new Error('memory store: closed');
    // Checked before a commit starts, never during one: it happens entirely or not at all.
    throwIfCancelled(opts?.signal);
  };

  const readOne = (q: Query): Entry[] => {
    if ('key' in q) {
      const e = data.get(q.key);
      return e ? [e] : [];
    }
    const end = prefixEnd(q.prefix);
    return [...data.values()]
      .filter((e) => e.key >= q.prefix && (end === undefined || e.key < end))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  };

  return {
    async read(queries, opts) {
      ensureOpen(opts);
      queries.forEach(assertQuery);
      const snapshot: Snapshot = { revision, results: queries.map(readOne) };
      return snapshot;
    },

    async commit(txn: Txn, opts): Promise<CommitResult> {
      ensureOpen(opts);
      assertTxn(txn);
      const current = (key: string): number => data.get(key)?.modRevision ?? 0;
      const conflicts = [
        ...txn.compares.filter((c) => current(c.key) !== c.modRevision).map((c) => c.key),
        ...txn.ops.filter((op) => current(op.key) !== op.expect).map((op) => op.key),
      ];
      if (conflicts.length > 0) return { ok: false, conflicts: [...new Set(conflicts)] };
      if (txn.ops.length === 0) return { ok: true, revision };
      revision++;
      for (const op of txn.ops) {
        if (op.type === 'delete') {
          data.delete(op.key);
          continue;
        }
        const prev = data.get(op.key);
        data.set(op.key, {
          key: op.key,
          value: op.value,
          createRevision: prev?.createRevision ?? revision,
          modRevision: revision,
          version: (prev?.version ?? 0) + 1,
        });
      }
      return { ok: true, revision };
    },

    async close() {
      closed = true;
    },
  };
}
