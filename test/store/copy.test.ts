// `visp store copy`, both ways, as an operator runs it: a controller's SQLite
// store (slices allocated and provisioned, one deleted and its space cooling
// down, an egress node configured) into a real etcd (three members, TLS,
// test namespaces), and from there into a new SQLite file. Every key and value
// arrives; a controller started on each copy sees the same slices, manifests,
// egress configuration and IPAM state (cooldowns included).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import type { AgentSession, DesiredState, PlanReply } from '../../src/controller/agent-session.js';
import type { DesiredEndpoint } from '../../src/controller/desired.js';
import { checkInvariants, createIpam, manualClock } from '../../src/ipam/index.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { kernelSkipReason } from '../helpers/netns.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'visp-copy-'));
let etcd: EtcdCluster;
beforeAll(async () => { if (!kernelSkipReason) etcd = await startEtcdCluster(join(dir, 'etcd'), { tag: 'cp' }); }, 60_000);
afterAll(async () => { await etcd?.stop(); rmSync(dir, { recursive: true, force: true }); });

class Agent implements AgentSession {
  constructor(readonly node: string, readonly peer = `test:${node}`) {}
  send(_s: DesiredState): void { /* kept by nobody */ }
  plan(_e: DesiredEndpoint[]): Promise<PlanReply> { return Promise.resolve({ endpoints: [] }); }
  close(): void { /* nothing */ }
}

const POOLS = {
  pools: [{ name: 'priv-v4', prefix: '198.51.100.0/24', class: 'private' as const, defaultBlockLength: 28 }, { name: 'pub-v4', prefix: '203.0.113.0/24', class: 'public' as const, defaultBlockLength: 28 }],
  cooldownMs: 3_600_000, allocationTtlMs: 3_600_000,
};
const EGRESS = { node: 'eg', asn: 64500, routerId: '198.18.0.9', providers: [{ address: '198.18.1.2', asn: 64501, families: ['ipv4' as const], maxPrefixes: 50 }] };
const slice = (name: string, egress = false) => ({
  slice: name,
  topology: {
    nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }],
    links: [
      { id: 'l1', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'vxlan' as const, addressClass: 'private' as const, ipv4: {} },
      ...(egress ? [{ id: 'up', members: [{ node: 'r1' }], encapsulation: 'vxlan' as const, addressClass: 'public' as const, ipv4: {}, egress: { node: 'eg', routes: 'default' as const, defaultRoute: true } }] : []),
    ],
  },
});

async function controllerOn(store: Store, first = false): Promise<Controller> {
  // Only the first controller is given pools; the copies must carry them.
  const c = new Controller({ store, clock: manualClock(1_000_000), sweepIntervalMs: 3_600_000, ...(first ? { ipam: POOLS } : {}) });
  await c.start();
  for (const n of ['n1', 'n2', 'eg']) await c.agentConnected({ node: n, underlay: [`198.18.0.${n === 'eg' ? 9 : n.slice(1)}`], capabilities: [{ kind: 'vxlan', supported: true }] }, new Agent(n));
  return c;
}

/** What a controller on the store sees, and the store's own keys and values. */
async function view(store: Store) {
  const c = await controllerOn(store);
  try {
    const entries = (await store.read([{ prefix: '' }])).results[0]!.filter((e) => !e.key.startsWith('leader/')).map((e) => [e.key, e.value]);
    const ipam = createIpam({ store });
    return { entries, slices: await c.listSlices(), bgp: c.listBgp().map((b) => b.config), allocations: await ipam.list(), invariants: await checkInvariants(store) };
  } finally {
    c.stop();
  }
}

function copy(from: string, to: string): { keys: number } {
  const tls = etcd.clientTls;
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'store', 'copy', '--from', from, '--to', to, '--tls-ca', tls.ca, '--tls-cert', tls.cert, '--tls-key', tls.key, '--json'], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { keys: number };
}

describe.skipIf(kernelSkipReason)('visp store copy', () => {
  it('SQLite → etcd → SQLite: every slice, allocation, cooldown and egress configuration intact', async () => {
    const first = join(dir, 'first.sqlite');
    const store = await openStore(first);
    const c = await controllerOn(store, true);
    await c.setEgressNode(EGRESS);
    // `gone`'s space is deleted and cooling down; `kept` provisioned; `out` egresses at eg; `half` only allocated.
    await c.allocate(slice('gone'), { owner: 'spiffe://visp.test/am/am1' });
    await c.delete('gone');
    await c.allocate(slice('kept'), { owner: 'spiffe://visp.test/am/am1' });
    await c.provision('kept');
    await c.allocate(slice('out', true), { owner: 'spiffe://visp.test/am/am2' });
    await c.provision('out');
    await c.allocate(slice('half'), { owner: 'spiffe://visp.test/am/am1' });
    c.stop();
    const before = await view(store);
    await store.close();
    expect(before.invariants).toEqual([]);
    expect(before.slices.map((s) => s.slice).sort()).toEqual(['half', 'kept', 'out']);
    expect(before.entries.some(([k, v]) => k!.startsWith('ipam/blocks/') && /"cooldown"/.test(v!))).toBe(true);

    const url = etcd.url('copied');
    expect(copy(first, url).keys).toBe(before.entries.length);
    const onEtcd = await openStore(url, { tls: etcd.clientTls });
    const there = await view(onEtcd);
    await onEtcd.close();
    expect(there).toEqual(before);

    // Into a store that is not empty: refused, nothing written.
    const again = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'store', 'copy', '--from', first, '--to', url, '--tls-ca', etcd.clientTls.ca, '--tls-cert', etcd.clientTls.cert, '--tls-key', etcd.clientTls.key], { encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/destination is not empty/);

    const back = join(dir, 'back.sqlite');
    expect(copy(url, back).keys).toBe(before.entries.length);
    const backStore = await openStore(back);
    const home = await view(backStore);
    await backStore.close();
    expect(home).toEqual(before);
  }, 120_000);
});
