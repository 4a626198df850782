// visp highly available, as a testbed would run it: an etcd cluster of three
// and three controllers (processes, SIGKILLed here), two lab nodes whose
// agents know every controller. What must hold:
// - an agent whose controller dies moves to another within seconds, and a
//   ping across its slice's link loses nothing meanwhile;
// - a storm of 20 clients (Allocate, Provision, Delete, spread over the
//   controllers) while the leader is SIGKILLed: a new leader within 5 s, no
//   two slices with overlapping space, nothing acknowledged and lost, and
//   every allocation left unprovisioned expired exactly once;
// - one etcd member down: everything goes on; two: requests fail cleanly with
//   UNAVAILABLE; they return: it works again.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TopologyLink } from '../../src/api/gen/visp/v1/TopologyLink.js';
import { checkInvariants } from '../../src/ipam/index.js';
import { kernelSkipReason } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';
import { HaLab } from '../../bench/lib/ha-lab.js';
import { runStorm } from '../../bench/lib/storm.js';
import { testNamespaces } from '../helpers/etcd-cluster.js';

const run = promisify(execFile);
/** The slice an "expired" event line of a controller's log names (JSON lines; or plain text on a terminal). */
function expiredIn(line: string): string | undefined {
  const j = line.indexOf('{');
  if (j >= 0) {
    try {
      const o = JSON.parse(line.slice(j)) as { event?: string; slice?: string };
      return o.event === 'expired' ? o.slice : undefined;
    } catch { /* not JSON */ }
  }
  return / event expired ([^:]+):/.exec(line)?.[1];
}
const link = (id: string): TopologyLink => ({ id, members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_VXLAN', addressClass: 'ADDRESS_CLASS_PRIVATE', ipv4: { enabled: true } });
const topology = { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [link('l1')] };

describe.skipIf(kernelSkipReason)('HA: three controllers on a three-member etcd', () => {
  const lab = new HaLab('ha', ['n1', 'n2'], 3, { netns: testNamespaces, allocationTtlMs: 4000, sweepMs: 200 });
  beforeAll(async () => { await lab.start(); }, 180_000);
  afterAll(async () => { await lab.close(); });

  it('the controller an agent is on dies: the agent moves within seconds, the ping across its link loses nothing', async () => {
    const slice = lab.slice('base');
    const c = lab.client(2);
    const m = (await c.links.allocate({ slice, topology })).manifest!;
    await c.links.provision({ slice });
    c.close();
    const [a, b] = m.slivers[0]!.endpoints.map((e) => e.addresses[0]!.split('/')[0]!);
    const ns = `visp-${slice}:r1`;
    await waitFor('the link to carry a ping', async () => run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', b!]).then(() => true, () => false), 30_000, 300);
    void a;
    // Any controller answers: Status on one neither agent is connected to sees both ends ready.
    const other = [0, 1, 2].find((i) => i !== lab.agentOn('n1') && i !== lab.agentOn('n2'))!;
    const third = lab.client(other);
    await waitFor('READY from a third controller', async () => {
      const s = (await third.links.status({ slice })).manifest!;
      return s.operationalState === 'OPERATIONAL_STATE_READY';
    }, 20_000, 200);
    third.close();
    const on = lab.agentOn('n1')!;
    const pinging = run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-i', '0.05', '-c', '120', '-W', '1', b!]);
    await new Promise((r) => setTimeout(r, 1000));
    const killedAt = Date.now();
    lab.kill(on);
    await waitFor('n1 on another controller', () => { const now = lab.agentOn('n1'); return now !== undefined && now !== on; }, 10_000, 20);
    const moved = Date.now() - killedAt;
    const out = (await pinging).stdout;
    console.log(`agent_failover_s=${(moved / 1000).toFixed(2)}; ping: ${out.split('\n').find((l) => l.includes('packet loss'))}`);
    expect(out).toMatch(/ 0% packet loss/);
    expect(moved).toBeLessThan(5000);
    lab.startController(on);
    await lab.waitAnswers(on);
  }, 120_000);

  it('a 20-client storm over three controllers while the leader is SIGKILLed: a new leader within 5 s, no overlap, nothing lost, each expiry once', async () => {
    const before = await lab.leader();
    expect(before).toBeDefined();
    const leaderIdx = lab.controllers.findIndex((c) => c.proc?.pid === before!.pid);
    expect(leaderIdx).toBeGreaterThanOrEqual(0);
    // Allocations never provisioned: they expire (4 s), some before and some after the leader dies.
    const orphans = Array.from({ length: 6 }, (_, i) => lab.slice(`orphan${i}`));
    for (const [i, s] of orphans.entries()) { const c = lab.client(i % 3); await c.links.allocate({ slice: s, topology }); c.close(); }
    let failover = NaN;
    const storm = runStorm(lab, { clients: 20, cycles: 4, topology, killAfterMs: 1500, onKill: async () => {
      const t0 = Date.now();
      lab.kill(leaderIdx);
      await waitFor('a new leader', async () => { const l = await lab.leader(); return !!l && l.pid !== before!.pid; }, 10_000, 20);
      failover = (Date.now() - t0) / 1000;
    } });
    const r = await storm;
    console.log(`leader_failover_s=${failover.toFixed(2)} storm: ${JSON.stringify({ ...r, alive: r.alive.length })}`);
    expect(failover).toBeLessThan(5);
    expect(r.lostAcks).toEqual([]);
    expect(await checkInvariants(lab.store)).toEqual([]);
    expect(r.doubleAllocations).toBe(0);
    expect(r.acked).toBeGreaterThan(40);
    // Each orphan expired, exactly once over all controllers' logs (the dead one's included).
    await waitFor('the orphans to expire', async () => (await lab.store.read([{ prefix: 'visp/slices/' }])).results[0]!.every((e) => !orphans.some((o) => e.key.endsWith(o))), 20_000, 200);
    const expired = lab.controllers.flatMap((c) => c.log).map(expiredIn).filter((x): x is string => x !== undefined);
    for (const o of orphans) expect(expired.filter((s) => s === o), o).toHaveLength(1);
    lab.startController(leaderIdx);
    await lab.waitAnswers(leaderIdx);
  }, 240_000);

  it('one etcd member down: requests go on; two down: UNAVAILABLE, cleanly; back: they work again', async () => {
    const c = lab.client(0);
    try {
      lab.etcd.kill(2);
      const s1 = lab.slice('one-down');
      await c.links.allocate({ slice: s1, topology });
      await c.links.delete({ slice: s1 });
      lab.etcd.kill(1);
      const t0 = Date.now();
      const err = await c.links.allocate({ slice: lab.slice('two-down'), topology }).then(() => undefined, (e: ServiceError) => e);
      expect(err?.code).toBe(grpcStatus.UNAVAILABLE);
      expect(Date.now() - t0).toBeLessThan(15_000);
      lab.etcd.start(1);
      lab.etcd.start(2);
      await lab.etcd.healthy(3);
      const s3 = lab.slice('back');
      await waitFor('an allocation to succeed again', async () => c.links.allocate({ slice: s3, topology }).then(() => true, () => false), 30_000, 500);
      await c.links.delete({ slice: s3 });
    } finally {
      c.close();
    }
  }, 120_000);
});
