// Two controllers on one etcd store (a real three-member cluster with TLS in
// test namespaces), in one process with fake agent sessions: each answers
// for slices the other allocated; what one provisions reaches an agent
// connected to the other; a delete on one tears down on the other's agents;
// only the elected leader expires a slice, once; allocations from both never
// overlap.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSession, DesiredState, PlanReply } from '../../src/controller/agent-session.js';
import { Controller, type ControllerEvent } from '../../src/controller/controller.js';
import type { DesiredEndpoint } from '../../src/controller/desired.js';
import type { SliceRequest } from '../../src/controller/model.js';
import { checkInvariants, manualClock } from '../../src/ipam/index.js';
import { electLeader } from '../../src/store/etcd-election.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd-store.js';
import type { Leadership } from '../../src/store/leadership.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { kernelSkipReason } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'visp-ha-'));
let etcd: EtcdCluster;
const closers: Array<() => Promise<void> | void> = [];
beforeAll(async () => { if (!kernelSkipReason) etcd = await startEtcdCluster(join(dir, 'etcd'), { tag: 'hc' }); }, 60_000);
afterAll(async () => { for (const c of closers.reverse()) await c(); await etcd?.stop(); rmSync(dir, { recursive: true, force: true }); });

class Agent implements AgentSession {
  readonly sent: DesiredState[] = [];
  constructor(readonly node: string, readonly peer = `test:${node}`) {}
  send(s: DesiredState): void { this.sent.push(s); }
  plan(_e: DesiredEndpoint[]): Promise<PlanReply> { return Promise.resolve({ endpoints: [] }); }
  close(): void { /* nothing */ }
  get last(): DesiredState | undefined { return this.sent.at(-1); }
}

const POOLS = { pools: [{ name: 'priv-v4', prefix: '198.51.100.0/24', class: 'private' as const, defaultBlockLength: 29 }], cooldownMs: 0, allocationTtlMs: 60_000 };
const request = (slice: string): SliceRequest => ({
  slice,
  topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [{ id: 'l1', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'vxlan', addressClass: 'private', ipv4: {} }] },
});

interface Side { c: Controller; store: EtcdStore; leader: Leadership; events: ControllerEvent[] }
const clock = manualClock(1_000_000);

async function side(prefix: string, name: string, pools: boolean): Promise<Side> {
  const store = await openEtcdStore(etcd.url(prefix), { tls: etcd.clientTls });
  const leader = electLeader(store, 'duties', { identity: name, ttlS: 1, pollMs: 100 });
  const c = new Controller({ store, clock, sweepIntervalMs: 50, leadership: leader, watch: store, ...(pools ? { ipam: POOLS } : {}) });
  const events: ControllerEvent[] = [];
  c.on('event', (e) => events.push(e));
  await c.start();
  closers.push(async () => { c.stop(); await leader.close(); await store.close(); });
  return { c, store, leader, events };
}
const connect = async (s: Side, node: string): Promise<Agent> => {
  const a = new Agent(node);
  await s.c.agentConnected({ node, underlay: [`198.18.0.${node.slice(1)}`], capabilities: [{ kind: 'vxlan', supported: true }] }, a);
  return a;
};
const has = (a: Agent, slice: string): boolean => !!a.last?.endpoints.some((e) => e.slice === slice);
const tearsDown = (a: Agent, slice: string): boolean => !!a.last?.teardowns.some((t) => t.slice === slice) && !has(a, slice);

describe.skipIf(kernelSkipReason)('two controllers on one etcd store', () => {
  it('each answers for the other\'s slices, and desired state reaches an agent whichever controller it is on', async () => {
    const a = await side('two', 'A', true);
    const b = await side('two', 'B', false);
    const n1 = await connect(b, 'n1'); // n1's agent is on B
    const n2 = await connect(a, 'n2'); // n2's agent is on A
    await waitFor('B to know n2', () => b.c.listNodes().some((n) => n.name === 'n2'), 5000, 20);
    await waitFor('A to know n1', () => a.c.listNodes().some((n) => n.name === 'n1'), 5000, 20);

    await a.c.allocate(request('s1'));
    await a.c.provision('s1');
    await waitFor('n1 (on B) to be given s1', () => has(n1, 's1'), 5000, 20);
    expect(has(n2, 's1')).toBe(true);
    await waitFor('B to answer for s1', async () => (await b.c.status('s1').catch(() => undefined)) !== undefined, 5000, 20);
    expect((await b.c.status('s1')).slivers.map((l) => l.id)).toEqual(['s1/l1']);

    await b.c.delete('s1');
    await waitFor('n2 (on A) to tear s1 down', () => tearsDown(n2, 's1'), 5000, 20);
    expect(tearsDown(n1, 's1')).toBe(true);
    await waitFor('A to forget s1', async () => (await a.c.status('s1').catch(() => 'gone')) === 'gone', 5000, 20);
  }, 60_000);

  it('only the leader expires a slice, exactly once; allocations from both never overlap', async () => {
    const a = await side('expiry', 'A', true);
    const b = await side('expiry', 'B', false);
    await connect(a, 'n1');
    await connect(b, 'n2');
    await waitFor('both to know both nodes', () => a.c.listNodes().length === 2 && b.c.listNodes().length === 2, 5000, 20);
    await waitFor('a leader', () => [a, b].filter((s) => s.leader.token() !== undefined).length === 1, 5000, 20);
    const names = Array.from({ length: 12 }, (_, i) => `x${i}`);
    await Promise.all(names.map((n, i) => (i % 2 ? b : a).c.allocate(request(n))));
    expect(await checkInvariants(a.store)).toEqual([]);
    // Every slice has its own block, whichever controller allocated it (also as the other sees them).
    await waitFor('both to see every slice', async () => (await b.c.listSlices()).length === names.length && (await a.c.listSlices()).length === names.length, 5000, 20);
    for (const side of [a, b]) {
      const slices = await side.c.listSlices();
      const blocks = slices.flatMap((m) => m.blocks.map((x) => x.prefix));
      expect(new Set(blocks).size, JSON.stringify(slices.map((m) => [m.slice, m.blocks]))).toBe(names.length);
    }
    // Unprovisioned allocations expire after the allocation TTL.
    clock.advance(61_000);
    await waitFor('every slice to expire', async () => (await a.c.listSlices()).length === 0 && (await b.c.listSlices()).length === 0, 10_000, 50);
    const expired = [...a.events, ...b.events].filter((e) => e.kind === 'expired').map((e) => e.slice);
    expect(expired.sort()).toEqual([...names].sort());
  }, 60_000);
});
