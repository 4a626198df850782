// Who may do the duties that must not run twice (expiry, cooldown release),
// and the fence that keeps a leader that lost its place from writing. With
// an etcd store the controllers elect one (etcd-election.ts); a store only
// one controller uses (SQLite, memory) has a sole leader.
//
// Fencing is by compare, not by belief: a duty runs inside `asLeader`, and
// every commit made in it (however deep, through the IPAM or the records)
// carries "the leader key is still at my token" in the same transaction. A
// leader whose lease expired, however it was delayed, cannot commit.
import { AsyncLocalStorage } from 'node:async_hooks';
import { UnavailableError } from '../errors.js';
import type { Store } from './types.js';

export interface Leadership {
  /** The leader key in the store's key space. */
  readonly key: string;
  /** The fencing token (the leader key's modRevision) while this process leads; undefined when it does not. */
  token(): number | undefined;
  /** Who leads, as far as this process knows. */
  leader(): string | undefined;
  /** Called when this process starts or stops leading; returns the unsubscribe. */
  onChange(listener: (leading: boolean) => void): () => void;
  close(): Promise<void>;
}

/** The only controller on its store: always leads; its token says the leader key is absent (nobody else stands). */
export function soleLeadership(name: string, identity = 'this controller'): Leadership {
  return { key: `leader/${name}`, token: () => 0, leader: () => identity, onChange: () => () => undefined, close: async () => undefined };
}

const duty = new AsyncLocalStorage<Leadership>();

/** Runs `fn` as the leader's duty: its commits are fenced; refused at once when this process does not lead. */
export function asLeader<T>(l: Leadership, fn: () => Promise<T>): Promise<T> {
  if (l.token() === undefined) return Promise.reject(new UnavailableError(`${l.key}: this controller does not lead`));
  return duty.run(l, fn);
}

/** A store whose commits inside `asLeader` carry the leader's fence; other commits pass unchanged. */
export function fencedStore(store: Store): Store {
  return {
    read: (q, o) => store.read(q, o),
    close: () => store.close(),
    async commit(txn, o) {
      const l = duty.getStore();
      if (!l) return store.commit(txn, o);
      const token = l.token();
      if (token === undefined) throw new UnavailableError(`${l.key}: this controller no longer leads; its duty stops`);
      const r = await store.commit({ compares: [...txn.compares, { key: l.key, modRevision: token }], ops: txn.ops }, o);
      if (!r.ok && r.conflicts.includes(l.key)) throw new UnavailableError(`${l.key}: another controller leads now (fenced at token ${token}); nothing written`);
      return r;
    },
  };
}
