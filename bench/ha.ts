// npm run bench -- ha [--clients 20] [--cycles 4] [--links 1000] [--trials 3]
//
// visp highly available (issue 16): an etcd cluster of three members (mutual
// TLS, each in a namespace of its own), three controllers as processes on it,
// two lab nodes whose agents know every controller (bench/lib/ha-lab.ts).
//   allocate_1000_etcd_vs_sqlite  one Allocate of --links VXLAN IPv6 links
//        (100 routers on four registered nodes) by a controller in this
//        process on etcd, over the same on the embedded SQLite store (on its
//        thread, as the controller runs it): median of --trials, ratio;
//   storm_allocs_per_s_1 / _3  --clients aggregate managers at once, each
//        --cycles of Allocate → Provision → (every other) Delete of a slice of
//        its own with one real VXLAN link, on one controller, then spread over
//        three: acknowledged Allocates per second;
//   leader_failover_s   the same storm over three while the leader is
//        SIGKILLed: from the kill until another controller holds the leader key;
//   lost_acks, double_allocations  over both storms: replies the store
//        contradicts afterwards, pairs of slices with overlapping blocks;
//   agent_failover_s    the controller node n1's agent is on is SIGKILLed: until
//        the agent is connected to another (ping_lost: of 100 pings at 20 ms
//        across a link of n1's meanwhile).
// Progress on stderr; the last stdout line is JSON.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TopologyLink } from '../src/api/gen/visp/v1/TopologyLink.js';
import type { AgentSession, DesiredState, PlanReply } from '../src/controller/agent-session.js';
import { Controller } from '../src/controller/controller.js';
import type { DesiredEndpoint } from '../src/controller/desired.js';
import type { SliceRequest } from '../src/controller/model.js';
import { openEtcdStore } from '../src/store/etcd-store.js';
import { openSqliteStoreThreaded } from '../src/store/sqlite-thread.js';
import type { Store } from '../src/store/types.js';
import { poll } from './lib/bgp-env.js';
import { HaLab } from './lib/ha-lab.js';
import { log, median, round } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, removeNetns, scratchNetns } from './lib/scratch.js';
import { runStorm } from './lib/storm.js';

const run = promisify(execFile);
let clients = 20;
let cycles = 4;
let links = 1000;
let trials = 3;
parseOptions(process.argv.slice(2), {
  '--clients': (v) => { clients = v.int(1); },
  '--cycles': (v) => { cycles = v.int(1); },
  '--links': (v) => { links = v.int(10); },
  '--trials': (v) => { trials = v.int(1); },
});
cleanupOnSignal();
const netns = { make: scratchNetns, remove: removeNetns };

class Agent implements AgentSession {
  constructor(readonly node: string, readonly peer = `bench:${node}`) {}
  send(_s: DesiredState): void { /* not kept */ }
  plan(_e: DesiredEndpoint[]): Promise<PlanReply> { return Promise.resolve({ endpoints: [] }); }
  close(): void { /* nothing */ }
}

const NODES = ['n1', 'n2', 'n3', 'n4'];
const ROUTERS = 100;
function bigRequest(slice: string, n: number): SliceRequest {
  return {
    slice,
    topology: {
      nodes: Array.from({ length: ROUTERS }, (_, r) => ({ id: `r${r}`, node: NODES[r % NODES.length]! })),
      links: Array.from({ length: n }, (_, k) => {
        const a = k % ROUTERS;
        const b = (a + 1 + (Math.floor(k / ROUTERS) % (ROUTERS - 1))) % ROUTERS;
        const far = (b - a + ROUTERS) % NODES.length === 0 ? (b + 1) % ROUTERS : b;
        return { id: `l${k}`, members: [{ node: `r${a}` }, { node: `r${far}` }], encapsulation: 'vxlan', addressClass: 'local', ipv6: {} };
      }),
    },
  };
}
const POOLS = { pools: [{ name: 'v6', prefix: '2001:db8:1000::/36', class: 'local' as const, defaultBlockLength: 48, largestBlockLength: 40 }], cooldownMs: 0, allocationTtlMs: 600_000 };

/** Median wall time of one Allocate of `n` links on `store` (a controller in this process; a Delete after each). */
async function allocateSeconds(store: Store, n: number): Promise<number> {
  const c = new Controller({ store, ipam: POOLS, sweepIntervalMs: 3_600_000, limits: { linksPerSlice: 20_000, routersPerSlice: 20_000 } });
  await c.start();
  for (const [i, node] of NODES.entries()) await c.agentConnected({ node, underlay: [`2001:db8:ff::${i + 1}`], capabilities: [{ kind: 'vxlan', supported: true }] }, new Agent(node));
  const times: number[] = [];
  await c.allocate(bigRequest('warm', Math.max(10, Math.round(n / 10))));
  await c.delete('warm');
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    await c.allocate(bigRequest(`big${t}`, n));
    times.push((performance.now() - t0) / 1000);
    await c.delete(`big${t}`);
  }
  c.stop();
  return median(times);
}

const link = (id: string): TopologyLink => ({ id, members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_VXLAN', addressClass: 'ADDRESS_CLASS_PRIVATE', ipv4: { enabled: true } });
const topology = { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [link('l1')] };

/** Deletes what a storm left (its slices kept alive), so the next starts with the pools free. */
async function clear(slices: readonly string[]): Promise<void> {
  const c = lab.client(0);
  try { for (const slice of slices) await c.links.delete({ slice }).catch(() => undefined); } finally { c.close(); }
}

const lab = new HaLab('hb', ['n1', 'n2'], 3, { netns, allocationTtlMs: 600_000, sweepMs: 500 });
const dir = mkdtempSync(join(tmpdir(), 'visp-bench-ha-'));
try {
  log(`ha: etcd (3 members), 3 controllers, 2 nodes …`);
  await lab.start();

  log(`ha: Allocate of ${links} links, etcd vs SQLite (${trials} trials each) …`);
  const etcdStore = await openEtcdStore(lab.etcd.url('bench-alloc'), { tls: lab.etcd.clientTls });
  const etcdS = await allocateSeconds(etcdStore, links);
  await etcdStore.close();
  const sqliteStore = await openSqliteStoreThreaded(join(dir, 'store.sqlite'));
  const sqliteS = await allocateSeconds(sqliteStore, links);
  await sqliteStore.close();
  log(`ha: allocate ${links}: etcd ${round(etcdS)} s, sqlite ${round(sqliteS)} s`);

  log(`ha: storm of ${clients} clients × ${cycles} cycles on one controller …`);
  const one = await runStorm(lab, { clients, cycles, topology, controllers: [0], tag: 'one' });
  await clear(one.alive);
  log(`ha: storm on three controllers …`);
  const three = await runStorm(lab, { clients, cycles, topology, tag: 'three' });
  await clear(three.alive);

  log(`ha: storm on three while the leader is SIGKILLed …`);
  const before = (await lab.leader())!;
  const leaderIdx = lab.controllers.findIndex((c) => c.proc?.pid === before.pid);
  let leaderFailover = NaN;
  const killed = await runStorm(lab, { clients, cycles, topology, tag: 'kill', killAfterMs: 1000, onKill: async () => {
    const t0 = performance.now();
    lab.kill(leaderIdx);
    await poll('a new leader', async () => { const l = await lab.leader(); return !!l && l.pid !== before.pid; }, 15_000, 20);
    leaderFailover = (performance.now() - t0) / 1000;
  } });
  lab.startController(leaderIdx);
  await lab.waitAnswers(leaderIdx);
  await clear(killed.alive);

  log(`ha: the controller n1's agent is on is SIGKILLed, a ping across n1's link meanwhile …`);
  const slice = lab.slice('ping');
  const c = lab.client(1);
  const m = (await c.links.allocate({ slice, topology })).manifest!;
  await c.links.provision({ slice });
  c.close();
  const to = m.slivers[0]!.endpoints.find((e) => e.node === 'n2')?.addresses[0]?.split('/')[0] ?? m.slivers[0]!.endpoints[1]!.addresses[0]!.split('/')[0]!;
  const ns = `visp-${slice}:r1`;
  await poll('the link to carry a ping', async () => run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', to]).then(() => true, () => false), 30_000, 300);
  const on = lab.agentOn('n1')!;
  const pinging = run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-i', '0.02', '-c', '100', '-W', '1', to]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  lab.kill(on);
  await poll('n1 on another controller', () => { const now = lab.agentOn('n1'); return now !== undefined && now !== on; }, 15_000, 5);
  const agentFailover = (performance.now() - t0) / 1000;
  const pingOut = await pinging;
  const received = Number(/(\d+) received/.exec(pingOut)?.[1] ?? 0);

  const result = {
    bench: 'ha',
    leader_failover_s: round(leaderFailover, 2),
    agent_failover_s: round(agentFailover, 2),
    ping_lost: 100 - received,
    lost_acks: one.lostAcks.length + three.lostAcks.length + killed.lostAcks.length,
    double_allocations: one.doubleAllocations + three.doubleAllocations + killed.doubleAllocations,
    allocate_1000_etcd_vs_sqlite: round(etcdS / sqliteS, 2),
    allocate_etcd_s: round(etcdS), allocate_sqlite_s: round(sqliteS), links,
    storm_allocs_per_s_1: round(one.allocsPerS, 1),
    storm_allocs_per_s_3: round(three.allocsPerS, 1),
    storm_with_kill_allocs_per_s: round(killed.allocsPerS, 1),
    storm_moved_calls: killed.moved,
    clients, cycles,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await lab.close().catch((e: Error) => log(`ha: cleanup: ${e.message}`));
  rmSync(dir, { recursive: true, force: true });
}
