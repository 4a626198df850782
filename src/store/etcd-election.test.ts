// The leader election and its fence, on a real three-member etcd (TLS, test
// namespaces): one leader at a time, a successor soon after the leader goes,
// a leader whose lease is gone cannot write even while it still believes it
// leads, and a stall of the event loop longer than the TTL is noticed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../../test/helpers/etcd-cluster.js';
import { kernelSkipReason } from '../../test/helpers/netns.js';
import { waitFor } from '../../test/helpers/wait.js';
import { electLeader } from './etcd-election.js';
import { openEtcdStore, type EtcdStore } from './etcd-store.js';
import { asLeader, fencedStore, type Leadership } from './leadership.js';

let etcd: EtcdCluster;
const opened: Array<{ close(): Promise<void> }> = [];
beforeAll(async () => { if (!kernelSkipReason) etcd = await startEtcdCluster(mkdtempSync(join(tmpdir(), 'visp-etcd-')), { tag: 'el' }); }, 60_000);
afterAll(async () => {
  for (const o of opened.reverse()) await o.close().catch(() => undefined);
  await etcd?.stop();
});

let n = 0;
async function candidates(count: number, ttlS = 1): Promise<{ stores: EtcdStore[]; elections: Leadership[] }> {
  const prefix = `election${n++}`;
  const stores = await Promise.all(Array.from({ length: count }, () => openEtcdStore(etcd.url(prefix), { tls: etcd.clientTls, callTimeoutMs: 1500 })));
  const elections = stores.map((s, i) => electLeader(s, 'duties', { identity: `c${i}`, ttlS, pollMs: 100 }));
  opened.push(...stores, ...elections);
  return { stores, elections };
}
const leaders = (es: Leadership[]): number[] => es.flatMap((e, i) => (e.token() !== undefined ? [i] : []));

describe.skipIf(kernelSkipReason)('leader election on etcd', () => {
  it('elects exactly one of three, and another soon after it resigns', async () => {
    const { elections } = await candidates(3);
    await waitFor('a leader', () => leaders(elections).length === 1, 5000, 20);
    for (let i = 0; i < 20; i++) { expect(leaders(elections).length).toBeLessThanOrEqual(1); await new Promise((r) => setTimeout(r, 50)); }
    const first = leaders(elections)[0]!;
    const t0 = Date.now();
    await elections[first]!.close();
    await waitFor('a successor', () => leaders(elections).length === 1, 5000, 20);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(elections[leaders(elections)[0]!]!.token()).toBeGreaterThan(elections[first]!.token() ?? 0);
  });

  it('fences a leader whose lease is gone, though it still believes it leads', async () => {
    const { stores, elections } = await candidates(2, 5);
    await waitFor('a leader', () => leaders(elections).length === 1, 5000, 20);
    const a = leaders(elections)[0]!;
    const b = 1 - a;
    // Its lease ends behind its back (as when etcd saw no keepalive for a TTL).
    const snap = await stores[a]!.anyMember('get', (c) => c.kv.range({ key: stores[a]!.etcdKey('leader/duties') }));
    await stores[a]!.anyMember('revoke', (c) => c.leaseClient.leaseRevoke({ ID: snap.kvs[0]!.lease }));
    expect(elections[a]!.token()).toBeDefined(); // it has not noticed yet
    await waitFor('the other to lead', () => elections[b]!.token() !== undefined, 5000, 20);
    const fenced = fencedStore(stores[a]!);
    const put = { compares: [], ops: [{ type: 'put' as const, key: 'duty', value: 'stale', expect: 0 }] };
    if (elections[a]!.token() !== undefined) {
      await expect(asLeader(elections[a]!, () => fenced.commit(put))).rejects.toThrow(/another controller leads|no longer leads/);
    }
    expect((await stores[b]!.read([{ key: 'duty' }])).results[0]).toEqual([]);
    const ok = await asLeader(elections[b]!, () => fencedStore(stores[b]!).commit({ ...put, ops: [{ ...put.ops[0]!, value: 'fresh' }] }));
    expect(ok.ok).toBe(true);
    // Writes outside a duty are not fenced.
    expect((await fenced.commit({ compares: [], ops: [{ type: 'put', key: 'other', value: 'x', expect: 0 }] })).ok).toBe(true);
  });

  it('a stall of the event loop longer than the TTL: the leader knows at once that it may not lead, and stands again', async () => {
    const { elections } = await candidates(1, 1);
    await waitFor('a leader', () => elections[0]!.token() !== undefined, 5000, 20);
    const until = Date.now() + 1500;
    while (Date.now() < until) { /* the loop is blocked */ }
    expect(elections[0]!.token()).toBeUndefined();
    await waitFor('leading again', () => elections[0]!.token() !== undefined, 8000, 50);
  });

  it('goes on with one etcd member down; with two down the leader steps down; and leads again when they return', async () => {
    const { elections } = await candidates(2, 1);
    await waitFor('a leader', () => leaders(elections).length === 1, 5000, 20);
    etcd.kill(2);
    await new Promise((r) => setTimeout(r, 2500));
    expect(leaders(elections).length).toBe(1);
    etcd.kill(1);
    await waitFor('no leader without quorum', () => leaders(elections).length === 0, 8000, 50);
    etcd.start(1);
    etcd.start(2);
    await etcd.healthy(3);
    await waitFor('a leader again', () => leaders(elections).length === 1, 15_000, 50);
  }, 60_000);
});
