// Following an etcd store (etcd-watch.ts) on a real three-member cluster:
// changes arrive in order; a watch started behind a compaction relists and
// goes on; a watch whose member is killed moves to another and loses nothing.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../../test/helpers/etcd-cluster.js';
import { kernelSkipReason } from '../../test/helpers/netns.js';
import { waitFor } from '../../test/helpers/wait.js';
import { openEtcdStore, type EtcdStore } from './etcd-store.js';
import type { Entry } from './types.js';

let etcd: EtcdCluster;
const opened: EtcdStore[] = [];
beforeAll(async () => { if (!kernelSkipReason) etcd = await startEtcdCluster(mkdtempSync(join(tmpdir(), 'visp-etcd-')), { tag: 'wa' }); }, 60_000);
afterAll(async () => { for (const s of opened) await s.close(); await etcd?.stop(); });

let n = 0;
const open = async (prefix: string): Promise<EtcdStore> => {
  const s = await openEtcdStore(etcd.url(prefix), { tls: etcd.clientTls, callTimeoutMs: 2000 });
  opened.push(s);
  return s;
};
const put = (s: EtcdStore, key: string, value: string, expect = 0) => s.commit({ compares: [], ops: [{ type: 'put', key, value, expect }] });

/** A follower's view: key → value, kept by the watch's changes and relists. */
function follow(s: EtcdStore, prefix: string, after: number) {
  const view = new Map<string, string>();
  let relists = 0;
  const apply = (key: string, e: Entry | undefined): void => { if (e) view.set(key, e.value); else view.delete(key); };
  const w = s.watch(prefix, after, {
    changes: (cs) => { for (const c of cs) apply(c.key, c.entry); },
    relisted: (es) => { relists++; view.clear(); for (const e of es) view.set(e.key, e.value); },
  });
  return { view, relists: () => relists, close: () => w.close() };
}

describe.skipIf(kernelSkipReason)('watching an etcd store', () => {
  it('sees puts and deletes in order, only under its prefix', async () => {
    const s = await open(`watch${n++}`);
    const f = follow(s, 'a/', 0);
    await put(s, 'a/1', 'x');
    await put(s, 'b/1', 'not mine');
    const r = await put(s, 'a/2', 'y');
    await s.commit({ compares: [], ops: [{ type: 'delete', key: 'a/1', expect: 1 }, { type: 'put', key: 'a/2', value: 'z', expect: r.ok ? r.revision : 0 }] });
    await waitFor('the changes', () => f.view.get('a/2') === 'z' && !f.view.has('a/1'), 5000, 20);
    expect([...f.view]).toEqual([['a/2', 'z']]);
    f.close();
  });

  it('started behind a compaction: relists, then follows', async () => {
    const s = await open(`watch${n++}`);
    await put(s, 'k/1', 'one');
    await put(s, 'k/2', 'two');
    await s.commit({ compares: [], ops: [{ type: 'delete', key: 'k/1', expect: 1 }] });
    const now = (await s.read([])).revision;
    await s.anyMember('compact', (c) => c.kv.compact({ revision: s.base + now, physical: true }));
    const f = follow(s, 'k/', 0);
    await waitFor('the relist', () => f.relists() === 1, 5000, 20);
    expect([...f.view]).toEqual([['k/2', 'two']]);
    await put(s, 'k/3', 'three');
    await waitFor('a change after it', () => f.view.get('k/3') === 'three', 5000, 20);
    f.close();
  });

  it('moves to another member when its member is killed, losing nothing', async () => {
    const s = await open(`watch${n++}`);
    const writer = await open(s.location.prefix);
    const f = follow(s, 'm/', 0);
    await put(writer, 'm/0', 'v');
    await waitFor('the first change', () => f.view.size === 1, 5000, 20);
    const first = s.members.order()[0]!;
    etcd.kill(first);
    for (let i = 1; i <= 20; i++) await put(writer, `m/${i}`, 'v');
    await waitFor('every change', () => f.view.size === 21, 10_000, 50);
    f.close();
    etcd.start(first);
    await etcd.healthy(3);
  }, 60_000);
});
