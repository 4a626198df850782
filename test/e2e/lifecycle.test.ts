// The GENI AM v3 lifecycle, end to end through the API:
// - an allocation never provisioned expires (short allocationTtlMs) and frees
//   its space: the next allocation gets the very same blocks (cooldown 0);
// - Renew extends end_time (and refuses the past);
// - PerformOperationalAction stop / start / restart: interfaces down and
//   STOPPED, up again and pinging, rebuilt (new ifindex) and READY;
// - Delete and Shutdown each leave no visp interface, bridge, experiment-side
//   link, route or FDB entry on any node (every namespace scanned against its
//   baseline; the slice's experiment namespaces gone — but a namespace the
//   topology names is the experimenter's and stays, emptied);
// - Status reports FAILED with the reason when a node lacks a kind (gretap:
//   this host has no ip_gre).
import { readdirSync } from 'node:fs';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import type { WatchEventsResponse__Output } from '../../src/api/gen/visp/v1/WatchEventsResponse.js';
import { delNetns, ipIn, kernelSkipReason } from '../helpers/netns.js';
import { baseline, ifindex, Lab, lan, leftovers, links, p2p, pingAsync, pingNeighbours, stripLen, tornDown, vispObjects, waitFor, type Manifest, type NsSnapshot } from './support.js';

// The "node lacks a kind" case needs a kind this host cannot carry: without
// visp-engine, gretap (no ip_gre here) is one; with it, it would run in userspace.
process.env.VISP_ENGINE = 'off';

const rejects = async (p: Promise<unknown>): Promise<ServiceError> => {
  try { await p; } catch (e) { return e as ServiceError; }
  throw new Error('expected the call to fail');
};

/** Collect WatchEvents into an array until cancelled. */
function watch(lab: Lab, slice: string): { events: WatchEventsResponse__Output[]; cancel(): void } {
  const stream = lab.api.operator.watchEvents({ slice, node: '' });
  const events: WatchEventsResponse__Output[] = [];
  void (async () => { try { for await (const e of stream) events.push(e); } catch { /* cancelled */ } })();
  return { events, cancel: () => stream.cancel() };
}

const topo3 = {
  nodes: [1, 2, 3].map((i) => ({ id: `r${i}`, node: `n${i}` })),
  links: [p2p('p12', 'r1', 'r2'), lan('lan', ['r1', 'r2', 'r3'])],
};

describe.skipIf(kernelSkipReason)('e2e lifecycle: an allocation never provisioned expires and frees its space', () => {
  const lab = new Lab('exp', ['n1', 'n2', 'n3'], {
    ipam: { pools: LAB_POOLS.pools, allocationTtlMs: 1500, cooldownMs: 0 },
    sweepIntervalMs: 200,
  });
  beforeAll(async () => { await lab.start(); });
  afterAll(async () => {
    await lab.close();
    if (readdirSync('/run/netns').includes(`vt-lcown-${lab.uid}`)) delNetns(`vt-lcown-${lab.uid}`);
  });

  it('Allocate without Provision: ALLOCATED with an expiry, then gone; the same blocks are free again', async () => {
    const first = lab.slice('first');
    const w = watch(lab, first);
    try {
      const m = (await lab.api.links.allocate({ slice: first, topology: topo3 })).manifest!;
      expect(m.allocationState).toBe('ALLOCATION_STATE_ALLOCATED');
      const expires = Date.parse(m.expires);
      expect(expires - Date.now()).toBeGreaterThan(0);
      expect(expires - Date.now()).toBeLessThanOrEqual(1500);
      expect((await lab.api.operator.listSlices({})).slices.map((s) => s.slice)).toEqual([first]);
      // Swept a little after the TTL: Status says NOT_FOUND, ListSlices no longer has it.
      await waitFor(`${first} to expire`, async () => {
        const e = await rejects(lab.api.links.status({ slice: first })).catch(() => undefined);
        return e?.code === grpcStatus.NOT_FOUND;
      }, 10_000, 100);
      expect(Date.now()).toBeGreaterThanOrEqual(expires);
      expect((await lab.api.operator.listSlices({})).slices).toEqual([]);
      await waitFor('the expired event', () => w.events.some((e) => e.kind === 'expired'), 5000);
      expect(w.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['allocated', 'expired']));

      // Its space is free (cooldown 0): the same request gets the same blocks and subnets.
      const second = lab.slice('second');
      const m2 = (await lab.api.links.allocate({ slice: second, topology: topo3 })).manifest!;
      expect(m2.blocks.map((b) => b.prefix)).toEqual(m.blocks.map((b) => b.prefix));
      expect(m2.slivers.map((s) => [s.ipv4Subnet, s.ipv6Subnet])).toEqual(m.slivers.map((s) => [s.ipv4Subnet, s.ipv6Subnet]));
      await lab.api.links.delete({ slice: second });
      // Nothing was ever built for either.
      for (const n of lab.nodes) expect(vispObjects(n.ns)).toEqual([]);
      expect(lab.experimentNamespaces()).toEqual([]);
    } finally {
      w.cancel();
    }
  });
});

describe.skipIf(kernelSkipReason)('e2e lifecycle: Renew, operational actions, Delete, Shutdown, a missing kind', () => {
  const lab = new Lab('lc', ['n1', 'n2', 'n3']);
  let before: Map<string, NsSnapshot>;
  beforeAll(async () => {
    await lab.start();
    before = baseline(lab);
  });
  afterAll(async () => { await lab.close(); });

  let slice: string;
  let m: Manifest;
  const ep = (link: string, node: string) => m.slivers.find((s) => s.link === link)!.endpoints.find((e) => e.node === node)!;
  const flags = (ns: string, ifname: string): string[] => (JSON.parse(ipIn(ns, '-j', 'link', 'show', 'dev', ifname)) as Array<{ flags: string[] }>)[0]!.flags;
  const p12ping = (): Promise<boolean> => pingAsync(ep('p12', 'r1').netns, stripLen(ep('p12', 'r2').addresses[0]!), 2, 1);

  it('Allocate + Provision → READY', async () => {
    slice = lab.slice('life');
    await lab.api.links.allocate({ slice, topology: topo3 });
    await lab.api.links.provision({ slice });
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it('Renew extends end_time; a time in the past, a malformed one or none is INVALID_ARGUMENT and changes nothing', async () => {
    const was = Date.parse((await lab.api.links.describe({ slice })).manifest!.endTime);
    const later = new Date(Math.ceil((Date.now() + 3 * 3600_000) / 1000) * 1000).toISOString();
    const r = (await lab.api.links.renew({ slice, endTime: later })).manifest!;
    expect(Date.parse(r.endTime)).toBe(Date.parse(later));
    expect(Date.parse(r.endTime)).toBeGreaterThan(was);
    expect(Date.parse((await lab.api.links.status({ slice })).manifest!.endTime)).toBe(Date.parse(later));
    expect((await lab.api.operator.listSlices({})).slices.find((s) => s.slice === slice)!.endTime).toBe(r.endTime);
    for (const endTime of [new Date(Date.now() - 60_000).toISOString(), 'tomorrow', '']) {
      const e = await rejects(lab.api.links.renew({ slice, endTime }));
      expect(e.code, endTime).toBe(grpcStatus.INVALID_ARGUMENT);
      expect(e.details).toMatch(/^end_time: /);
    }
    expect(Date.parse((await lab.api.links.describe({ slice })).manifest!.endTime)).toBe(Date.parse(later));
  });

  it('stop: the experiment interfaces go down, the sliver is STOPPED, the link carries nothing', async () => {
    const r = (await lab.api.links.performOperationalAction({ slice, slivers: [`${slice}/p12`], action: 'OPERATIONAL_ACTION_STOP' })).manifest!;
    expect(r.slivers.map((s) => s.link)).toEqual(['p12', 'lan']);
    await waitFor('p12 STOPPED, lan READY', async () => {
      const s = (await lab.api.links.status({ slice })).manifest!;
      const st = Object.fromEntries(s.slivers.map((x) => [x.link, x.operationalState]));
      return st.p12 === 'OPERATIONAL_STATE_STOPPED' && st.lan === 'OPERATIONAL_STATE_READY';
    });
    const s = (await lab.api.links.status({ slice })).manifest!;
    for (const e of s.slivers.find((x) => x.link === 'p12')!.endpoints) {
      expect(e.operationalState).toBe('OPERATIONAL_STATE_STOPPED');
      expect(flags(e.netns, e.ifname), `${e.netns}:${e.ifname}`).not.toContain('UP');
    }
    for (const e of s.slivers.find((x) => x.link === 'lan')!.endpoints) expect(flags(e.netns, e.ifname)).toContain('UP');
    expect(await p12ping()).toBe(false);
    // The periodic reconcile keeps it down (it is the desired state, not drift).
    await new Promise((r) => setTimeout(r, 1200));
    expect(flags(ep('p12', 'r1').netns, ep('p12', 'r1').ifname)).not.toContain('UP');
  });

  it('start: up again, READY, pinging', async () => {
    await lab.api.links.performOperationalAction({ slice, slivers: [], action: 'OPERATIONAL_ACTION_START' });
    await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    expect(flags(ep('p12', 'r1').netns, ep('p12', 'r1').ifname)).toContain('UP');
    await waitFor('p12 to ping again', p12ping, 10_000, 0);
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it('restart: the link is rebuilt (new tunnel devices; the experiment\'s interface stays, docs/ownership.md) and READY again', async () => {
    // A point-to-point link has no bridge (docs/kernel.md): its node side is its tunnels.
    expect(m.slivers.find((s) => s.link === 'p12')!.endpoints.map((e) => e.bridge)).toEqual(['', '']);
    const nodeSide = (): number[] => m.slivers.find((s) => s.link === 'p12')!.endpoints.flatMap((e) =>
      e.tunnels.map((t) => ifindex(lab.node(e.physicalNode).ns, t)));
    const expSide = (): number[] => m.slivers.find((s) => s.link === 'p12')!.endpoints.map((e) => ifindex(e.netns, e.ifname));
    const lanIdx = (): number[] => m.slivers.find((s) => s.link === 'lan')!.endpoints.map((e) => ifindex(e.netns, e.ifname));
    const [i0, e0, l0] = [nodeSide(), expSide(), lanIdx()];
    await lab.api.links.performOperationalAction({ slice, slivers: [`${slice}/p12`], action: 'OPERATIONAL_ACTION_RESTART' });
    await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    const i1 = nodeSide();
    i1.forEach((x, k) => expect(x, `node-side object ${k} of p12 was rebuilt`).not.toBe(i0[k]));
    // A layer-2 link's experiment interface is the experimenter's to hold on to (what they added to it survives).
    expect(expSide(), 'the experiment interfaces of p12 stay').toEqual(e0);
    expect(lanIdx(), 'the LAN was left alone').toEqual(l0);
    expect(await pingNeighbours(m)).toEqual([]);
    // Addresses and names are the same as before: the manifest still describes it.
    const d = (await lab.api.links.describe({ slice })).manifest!;
    expect(d.slivers.map((s) => s.endpoints.map((e) => [e.netns, e.ifname, e.addresses]))).toEqual(m.slivers.map((s) => s.endpoints.map((e) => [e.netns, e.ifname, e.addresses])));
  });

  it('Delete leaves nothing on any node, also a namespace the topology names (visp created it for the slice)', async () => {
    // A name only: visp creates the namespace and it belongs to the slice. (An
    // existing namespace visp did not create is refused: docs/ownership.md.)
    const own = `vt-lcown-${lab.uid}`;
    const s2 = lab.slice('named');
    await lab.api.links.allocate({ slice: s2, topology: { ...topo3, nodes: topo3.nodes.map((n) => (n.id === 'r3' ? { ...n, netns: own } : n)) } });
    await lab.api.links.provision({ slice: s2 });
    const m2 = await lab.waitState(s2, 'OPERATIONAL_STATE_READY');
    expect(m2.slivers.find((s) => s.link === 'lan')!.endpoints.find((e) => e.node === 'r3')!.netns).toBe(own);
    expect(await pingNeighbours(m2)).toEqual([]);

    for (const s of [slice, s2]) {
      const d = (await lab.api.links.delete({ slice: s })).manifest!;
      expect(d.allocationState).toBe('ALLOCATION_STATE_UNALLOCATED');
    }
    expect(await tornDown(lab, before, 10_000)).toEqual([]);
    // The named namespace was the slice's: gone with it (tornDown waits for visp-named ones only; a loaded machine takes a moment more).
    await waitFor(`${own} removed`, () => !readdirSync('/run/netns').includes(own), 10_000, 100).catch(() => undefined);
    expect(readdirSync('/run/netns')).not.toContain(own);
    expect((await lab.api.operator.listSlices({})).slices).toEqual([]);
  });

  it('Shutdown stops everything at once and leaves nothing on any node; the record stays until Delete', async () => {
    const s = lab.slice('shut');
    await lab.api.links.allocate({ slice: s, topology: topo3 });
    await lab.api.links.provision({ slice: s });
    const m3 = await lab.waitState(s, 'OPERATIONAL_STATE_READY');
    expect(await pingNeighbours(m3)).toEqual([]);
    const r = (await lab.api.links.shutdown({ slice: s })).manifest!;
    expect(r.allocationState).toBe('ALLOCATION_STATE_UNALLOCATED');
    expect(await tornDown(lab, before, 10_000)).toEqual([]);
    // Describable until deleted; not provisionable again.
    const st = (await lab.api.links.status({ slice: s })).manifest!;
    expect(st).toMatchObject({ allocationState: 'ALLOCATION_STATE_UNALLOCATED', operationalState: 'OPERATIONAL_STATE_STOPPED' });
    expect((await rejects(lab.api.links.provision({ slice: s }))).code).toBe(grpcStatus.FAILED_PRECONDITION);
    // Shutdown again is harmless; Delete removes the record; still nothing on the nodes.
    await lab.api.links.shutdown({ slice: s });
    await lab.api.links.delete({ slice: s });
    expect((await rejects(lab.api.links.status({ slice: s }))).code).toBe(grpcStatus.NOT_FOUND);
    expect(leftovers(lab, before)).toEqual([]);
  });

  it('Status is FAILED with the reason (ip_gre) when a node lacks the kind; Delete cleans up', async () => {
    // gretap is refused at Allocate while a member node is connected (its
    // capabilities are current); with both members' agents away it is
    // accepted, and the failure shows at Provision, from the agents.
    await lab.stopAgent('n2');
    await lab.stopAgent('n3');
    await lab.waitConnected(['n2', 'n3'], false);
    const s = lab.slice('gre');
    const topology = { nodes: [{ id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }], links: [p2p('g23', 'r2', 'r3', { encapsulation: 'ENCAPSULATION_GRETAP' })] };
    const a = (await lab.api.links.allocate({ slice: s, topology })).manifest!;
    expect(a.slivers[0]!.encapsulation).toBe('ENCAPSULATION_GRETAP');
    await lab.startAgent('n2');
    await lab.startAgent('n3');
    await lab.waitConnected(['n2', 'n3']);
    await lab.api.links.provision({ slice: s });
    const f = await lab.waitState(s, 'OPERATIONAL_STATE_FAILED');
    const sl = f.slivers[0]!;
    expect(sl.error).toMatch(/ip_gre/);
    for (const e of sl.endpoints) {
      expect(e.operationalState).toBe('OPERATIONAL_STATE_FAILED');
      expect(e.error, e.physicalNode).toMatch(/gretap.*ip_gre/);
    }
    expect(sl.error).toMatch(/^n2: .*; n3: /);
    const tunnels = (await lab.api.operator.listTunnels({ slice: s, state: 'OPERATIONAL_STATE_FAILED' })).tunnels;
    expect(tunnels.map((t) => t.node).sort()).toEqual(['n2', 'n3']);
    expect(tunnels.every((t) => /ip_gre/.test(t.error))).toBe(true);
    // The failure built nothing half-way; Delete leaves nothing either.
    await lab.api.links.delete({ slice: s });
    expect(await tornDown(lab, before, 10_000)).toEqual([]);
    // While connected, the same request is refused up front, naming the field and the module.
    const e = await rejects(lab.api.links.allocate({ slice: s, topology }));
    expect(e.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(e.details).toMatch(/^topology\.links\[0\]\.encapsulation: gretap is not available on node n2: .*ip_gre/);
  });
});
