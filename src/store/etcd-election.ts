// Electing one leader among the controllers sharing an etcd store, for the
// duties that must not run twice (expiry, cooldown release), with fencing.
//
// Our own, not etcd3's Election: its 1.1.x versions elected two leaders in
// known cases (microsoft/etcd3#176, fixed in 1.1.2 by waiting on the
// predecessor again; #158, two leaders after an etcd outage, closed without a
// fix), and its Lease reports a lost lease only once twice the TTL has passed
// since the last keepalive (#110), so a paused leader would go on believing.
// This is simpler and says exactly when it leads:
//
// - one key, `leader/<name>` in the store's key space, created only if absent
//   and attached to this process's lease; its modRevision (a store revision)
//   is the fencing token;
// - a leader believes it leads only until send time of its last answered
//   keepalive + TTL, a bound the server's expiry can never precede, checked
//   on every `token()`: after a stall of the event loop longer than the TTL a
//   process knows, synchronously, that it may no longer lead;
// - the token goes into the leader's writes as a compare (fencedStore), so a
//   leader that lost its lease without noticing cannot commit anything: etcd
//   deleted its key with the lease, and the compare fails;
// - a lost lease is not the end: a new one is granted and the process stands
//   again; followers look at the key every `pollMs` and stand when it is gone.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { UnavailableError } from '../errors.js';
import type { EtcdStore } from './etcd-store.js';
import type { Leadership } from './leadership.js';

export interface ElectionOptions {
  /** Who stands (logged, and the leader key's value). */
  readonly identity: string;
  /** Lease TTL, seconds (default 2): a dead leader is replaced after about this long. */
  readonly ttlS?: number;
  /** How often a follower looks at the leader key, ms (default 250). */
  readonly pollMs?: number;
  readonly log?: (line: string) => void;
}

export function electLeader(store: EtcdStore, name: string, o: ElectionOptions): Leadership {
  const ttl = o.ttlS ?? 2;
  const pollMs = o.pollMs ?? 250;
  const key = `leader/${name}`;
  const ekey = store.etcdKey(key);
  const log = o.log ?? (() => undefined);
  const listeners = new Set<(leading: boolean) => void>();
  let lease: string | undefined;
  let token: number | undefined;
  let validUntil = 0;
  let leader: string | undefined;
  let stopped = false;

  const set = (t: number | undefined, why: string): void => {
    const was = token !== undefined;
    token = t;
    if (was !== (t !== undefined)) {
      log(t !== undefined ? `leader ${name}: this controller (${o.identity}) leads (token ${t})` : `leader ${name}: ${o.identity} no longer leads (${why})`);
      for (const l of listeners) l(t !== undefined);
    }
  };
  const current = (): number | undefined => {
    if (token !== undefined && Date.now() >= validUntil) set(undefined, 'its lease may have expired');
    return token;
  };

  // One keepalive on a stream of its own, on the first member that answers; the TTL etcd gives back (0: gone).
  const keepalive = async (id: string): Promise<number> =>
    store.anyMember('lease keepalive', async (c: Etcd3) => {
      const stream = await c.leaseClient.leaseKeepAlive();
      try {
        const res = await Promise.race([
          new Promise<{ TTL: string }>((resolve, reject) => { stream.on('data', resolve); stream.on('error', reject); stream.write({ ID: id }); }),
          // A quarter of the TTL per member: a member that does not answer must leave time
          // to ask another before the belief (last answer's send time + TTL) lapses.
          sleep((ttl * 1000) / 4).then(() => { throw new UnavailableError('lease keepalive: no answer'); }),
        ]);
        return Number(res.TTL);
      } finally {
        stream.on('error', () => undefined); // a late error of a stream we are done with
        stream.end();
        (stream as unknown as { cancel?: () => void }).cancel?.();
      }
    });

  const round = async (): Promise<void> => {
    if (current() !== undefined && lease !== undefined) {
      const sent = Date.now();
      const left = await keepalive(lease);
      if (left <= 0) {
        lease = undefined;
        set(undefined, 'its lease expired');
        return;
      }
      validUntil = sent + left * 1000;
      return;
    }
    // Not leading: look; stand only when nobody leads, with a lease granted
    // for the purpose (a follower keeps none alive that could go stale).
    const seen = await store.anyMember('leader', (c) => c.kv.range({ key: ekey }));
    const kv = seen.kvs[0];
    if (kv) {
      leader = kv.value.toString();
      // Still ours (a round whose answer was lost, or a belief that lapsed while etcd
      // elected a new raft leader and answered no keepalive: etcd renews every lease
      // then, so ours may well be alive). The key exists on our lease, so nobody else
      // can have led meanwhile; a keepalive that answers proves the lease alive at its
      // send time, and we lead again with the same token, without waiting out the TTL.
      if (lease !== undefined && String(kv.lease) === String(lease)) {
        const sent = Date.now();
        const left = await keepalive(lease);
        if (left > 0) {
          validUntil = sent + left * 1000;
          set(store.entry(kv).modRevision, '');
        } else {
          lease = undefined;
        }
      }
      return;
    }
    const sent = Date.now();
    const g = await store.anyMember('lease grant', (c) => c.leaseClient.leaseGrant({ TTL: ttl }));
    lease = g.ID;
    validUntil = sent + Number(g.TTL) * 1000;
    const r = await store.anyMember('campaign', (c) => c.kv.txn({
      compare: [{ key: ekey, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: ekey, value: Buffer.from(o.identity), lease: g.ID } }],
      failure: [{ request_range: { key: ekey } }],
    }));
    if (r.succeeded) {
      leader = o.identity;
      set(store.entry({ key: ekey, value: Buffer.alloc(0), create_revision: r.header.revision, mod_revision: r.header.revision, version: '1' }).modRevision, '');
    } else {
      leader = r.responses[0]?.response_range.kvs?.[0]?.value.toString();
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        await round();
      } catch (e) {
        // etcd unreachable: a leader keeps its belief only until validUntil (token() checks).
        log(`leader ${name}: ${(e as Error).message}`);
      }
      current();
      await sleep(token !== undefined ? (ttl * 1000) / 4 : pollMs);
    }
  };
  const running = loop();

  return {
    key,
    token: current,
    leader: () => (current() !== undefined ? o.identity : leader),
    onChange(l) { listeners.add(l); return () => listeners.delete(l); },
    async close() {
      stopped = true;
      await running;
      const id = lease;
      set(undefined, 'closed');
      // Resigning: the lease goes, and the key with it, so a successor need not wait out the TTL.
      if (id !== undefined) await store.anyMember('lease revoke', (c) => c.leaseClient.leaseRevoke({ ID: id })).catch(() => undefined);
    },
  };
}
