// Agents as separate processes (`visp agent`, run inside each node
// namespace as on a real node): one is SIGKILLed in the middle of
// provisioning a 31-link topology and restarted; the slice converges to
// READY with exactly the expected objects on every node (no duplicate, no
// leftover, FDB and addresses exact). A restarted agent adopts what it built
// (nothing rebuilt). An interface deleted by hand is recreated and the
// repair arrives on WatchEvents.
//
// (Why the agents run under nsenter and not `ip netns exec`: see
// AgentProcesses in support.ts.)
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WatchEventsResponse__Output } from '../../src/api/gen/visp/v1/WatchEventsResponse.js';
import { endpointNames } from '../../src/endpoint/names.js';
import { ipIn, kernelSkipReason, sh } from '../helpers/netns.js';
import { AgentProcesses, baseline, ifindex, Lab, lan, links, p2p, pingNeighbours, sleep, tornDown, vispObjects, waitFor, type Manifest, type NsSnapshot, type TopologyLink } from './support.js';

describe.skipIf(kernelSkipReason)('e2e: agents as processes — SIGKILL mid-Provision, restart, adoption, drift repair', () => {
  const lab = new Lab('ar', ['n1', 'n2', 'n3'], { agents: [] });
  const agents = new AgentProcesses(lab);
  let before: Map<string, NsSnapshot>;
  let slice: string;
  let m: Manifest;

  // 6 routers, two per node; 30 IPv4 point-to-point links between routers on
  // different nodes (every cross-node pair, 2–3 times) and a dual-stack LAN.
  const routers = [1, 2, 3, 4, 5, 6].map((i) => ({ id: `r${i}`, node: `n${((i - 1) % 3) + 1}` }));
  const pairs = routers.flatMap((a, i) => routers.slice(i + 1).filter((b) => b.node !== a.node).map((b) => [a.id, b.id] as const));
  const linksSpec: TopologyLink[] = [
    ...Array.from({ length: 30 }, (_, k) => p2p(`l${k}`, pairs[k % pairs.length]![0], pairs[k % pairs.length]![1], { ipv6: null })),
    lan('lan', ['r1', 'r2', 'r3']),
  ];
  const topology = { nodes: routers, links: linksSpec };

  /** What each namespace must hold, from the manifest: node side (bridge if any, veth, tunnels), experiment side (interfaces). */
  function expected(man: Manifest): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const add = (ns: string, ...names: string[]): void => { out.set(ns, [...(out.get(ns) ?? []), ...names]); };
    for (const n of lab.nodes) add(n.ns);
    for (const s of man.slivers) {
      for (const e of s.endpoints) {
        // A bridge only where the link has one (docs/kernel.md); the veth's host end always.
        add(lab.node(e.physicalNode).ns, ...(e.bridge ? [e.bridge] : []), endpointNames(man.slice, s.link).vethHost, ...e.tunnels);
        add(e.netns, e.ifname);
      }
    }
    for (const [k, v] of out) out.set(k, v.sort());
    return out;
  }

  /** Everything that differs from `expected`: missing or extra objects, duplicate or missing addresses, wrong FDB. */
  function differences(man: Manifest): string[] {
    const diff: string[] = [];
    for (const [ns, want] of expected(man)) {
      const have = ns.startsWith('visp-') ? links(ns).map((l) => l.ifname as string).filter((n) => n !== 'lo').sort() : vispObjects(ns).sort();
      if (JSON.stringify(have) !== JSON.stringify(want)) {
        diff.push(`${ns}: extra [${have.filter((x) => !want.includes(x)).join(' ')}] missing [${want.filter((x) => !have.includes(x)).join(' ')}]${have.length !== new Set(have).size ? ' (duplicates)' : ''}`);
      }
    }
    for (const s of man.slivers) {
      for (const e of s.endpoints) {
        const addrs = (JSON.parse(ipIn(e.netns, '-j', 'addr', 'show', 'dev', e.ifname)) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>)[0]
          ?.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`).sort() ?? [];
        if (JSON.stringify(addrs) !== JSON.stringify([...e.addresses].sort())) diff.push(`${e.netns}:${e.ifname}: addresses ${addrs.join(' ')} ≠ ${e.addresses.join(' ')}`);
      }
    }
    // The LAN's head-end replication: exactly one flood entry per other member on each node.
    for (const e of man.slivers.find((s) => s.link === 'lan')!.endpoints) {
      const ns = lab.node(e.physicalNode).ns;
      const flood = (JSON.parse(sh('bridge', ['-n', ns, '-j', 'fdb', 'show', 'dev', e.tunnels[0]!])) as Array<{ mac: string; dst?: string }>)
        .filter((f) => f.mac === '00:00:00:00:00:00').map((f) => f.dst).sort();
      if (JSON.stringify(flood) !== JSON.stringify([...e.remotes].sort())) diff.push(`${ns}: lan flood entries [${flood.join(' ')}] ≠ [${e.remotes.join(' ')}]`);
    }
    return diff;
  }

  beforeAll(async () => {
    await lab.start();
    await Promise.all(lab.nodes.map((n) => agents.start(n.name)));
    await lab.waitConnected(['n1', 'n2', 'n3']);
    before = baseline(lab);
    slice = lab.slice('big');
  });
  afterAll(async () => {
    await agents.stopAll();
    await lab.close();
  });

  it('SIGKILL of one agent mid-Provision, restart: converges to READY with exactly the expected objects', async () => {
    m = (await lab.api.links.allocate({ slice, topology })).manifest!;
    const want = expected(m).get(lab.node('n1').ns)!;
    expect(want.length).toBeGreaterThan(40);
    // Freeze n1's agent at its first object (SIGSTOP: what it sent so far is
    // done, nothing more), so the kill lands mid-way for sure; then SIGKILL.
    const n1 = agents.get('n1')!;
    const mon = spawn('ip', ['-n', lab.node('n1').ns, 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const first = new Promise<void>((resolve) => {
      mon.stdout!.on('data', (d: Buffer) => { if (/\bv[bht][a-z2-7]{8}\b/.test(d.toString())) { n1.kill('SIGSTOP'); resolve(); } });
    });
    await sleep(100); // (the monitor subscribes)
    await lab.api.links.provision({ slice });
    await Promise.race([first, sleep(15_000).then(() => { throw new Error('n1 built nothing within 15 s'); })]);
    mon.kill();
    const partial = vispObjects(lab.node('n1').ns).length;
    lab.note(`n1 frozen with ${partial}/${want.length} node-side objects`);
    expect(partial, 'n1 was stopped part-way').toBeGreaterThan(0);
    expect(partial, 'n1 was stopped part-way').toBeLessThan(want.length);
    await agents.kill('n1', 'SIGKILL');
    await lab.waitConnected(['n1'], false);

    // Meanwhile: n1's endpoints are not READY (its agent is gone), the others are.
    const st = (await lab.api.links.status({ slice })).manifest!;
    expect(st.operationalState).not.toBe('OPERATIONAL_STATE_READY');
    const n1eps = st.slivers.flatMap((s) => s.endpoints.filter((e) => e.physicalNode === 'n1'));
    expect(n1eps.every((e) => e.operationalState === 'OPERATIONAL_STATE_PENDING' && /n1 is not connected/.test(e.error))).toBe(true);

    await agents.start('n1');
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 60_000);
    expect(differences(m)).toEqual([]);
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it('a restarted agent adopts what it built: nothing is rebuilt, nothing reported as repaired', async () => {
    const ns = lab.node('n2').ns;
    const objs = vispObjects(ns);
    const idx0 = objs.map((o) => ifindex(ns, o));
    const stream = lab.api.operator.watchEvents({ slice, node: 'n2' });
    const events: WatchEventsResponse__Output[] = [];
    void (async () => { for await (const e of stream) events.push(e); })();
    await agents.kill('n2', 'SIGKILL');
    await lab.waitConnected(['n2'], false);
    await agents.start('n2');
    await lab.waitConnected(['n2']);
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 30_000);
    await sleep(1200); // a couple of periodic reconciles
    stream.cancel();
    expect(objs.map((o) => ifindex(ns, o))).toEqual(idx0);
    expect(events.filter((e) => e.kind === 'repair')).toEqual([]);
    expect(differences(m)).toEqual([]);
  });

  it('an interface deleted by hand is recreated and the repair is reported on WatchEvents', async () => {
    const e = m.slivers.flatMap((s) => s.endpoints.map((x) => ({ s, x }))).find(({ x }) => x.node === 'r1' && x.ifname === 'eth1')!;
    const stream = lab.api.operator.watchEvents({ slice, node: '' });
    const events: WatchEventsResponse__Output[] = [];
    const reader = (async () => { for await (const ev of stream) events.push(ev); })();
    await sleep(100);
    const idx0 = ifindex(e.x.netns, 'eth1');
    ipIn(e.x.netns, 'link', 'del', 'eth1');
    await waitFor('a repair event', () => events.some((ev) => ev.kind === 'repair'), 10_000, 50);
    const repair = events.find((ev) => ev.kind === 'repair')!;
    expect(repair).toMatchObject({ slice, link: e.s.link, node: 'n1' });
    expect(repair.message).toMatch(new RegExp(`^${slice}/${e.s.link}: repaired: `));
    stream.cancel();
    await reader;
    expect(ifindex(e.x.netns, 'eth1')).not.toBe(idx0);
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    expect(differences(m)).toEqual([]);
    expect(await pingNeighbours({ ...m, slivers: [e.s] })).toEqual([]);
  });

  it('Delete leaves nothing behind', async () => {
    await lab.api.links.delete({ slice });
    expect(await tornDown(lab, before)).toEqual([]);
  });
});
