// Bad requests, table-driven, through the API as an aggregate manager would
// send them: each gets the right gRPC status code and a message that starts
// with the field it is about; after each, nothing changed — not the store
// (same revision: not one write), not ListSlices / ListTunnels, not any node
// (same links in every namespace, no new namespace).
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/types.js';
import { kernelSkipReason } from '../helpers/netns.js';
import { Lab, lan, links, p2p, type Topology, type TopologyLink } from './support.js';

const { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, RESOURCE_EXHAUSTED } = grpcStatus;
type Code = grpcStatus;

/** A valid topology: r1-r2 (VXLAN, dual-stack) and a LAN r1 r2 r3; `edit` makes it bad. */
function topo(edit: (t: { nodes: Array<{ id: string; node: string; netns?: string }>; links: TopologyLink[] }) => void = () => undefined): Topology {
  const t = {
    nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }] as Array<{ id: string; node: string; netns?: string }>,
    links: [p2p('l1', 'r1', 'r2'), lan('lan', ['r1', 'r2', 'r3'])],
  };
  edit(t);
  return t;
}
const member = (t: { links: TopologyLink[] }, l: number, m: number) => t.links[l]!.members![m]!;

describe.skipIf(kernelSkipReason)('e2e: bad requests get the right status, name the field, and change nothing', () => {
  const lab = new Lab('bad', ['n1', 'n2', 'n3']);
  const S = (n: string): string => lab.slice(n);
  let allocated: string, live: string, liveAddress: string;

  beforeAll(async () => {
    await lab.start();
    // Fixtures: one slice allocated only, one provisioned and READY.
    allocated = S('allocated');
    live = S('live');
    await lab.api.links.allocate({ slice: allocated, topology: topo() });
    await lab.api.links.allocate({ slice: live, topology: topo() });
    await lab.api.links.provision({ slice: live });
    const m = await lab.waitState(live, 'OPERATIONAL_STATE_READY');
    liveAddress = m.slivers[0]!.endpoints[0]!.addresses[0]!.split('/')[0]!;
  });
  afterAll(async () => { await lab.close(); });

  const future = (ms: number): string => new Date(Date.now() + ms).toISOString();
  const alloc = (slice: string, topology: Topology | undefined, endTime = '') => () => lab.api.links.allocate({ slice, ...(topology ? { topology } : {}), endTime });

  // [name, call, code, field the message starts with]
  const cases: Array<[string, () => Promise<unknown>, Code, string]> = [
    // slice ids
    ['missing slice id', () => alloc('', topo())(), INVALID_ARGUMENT, 'slice'],
    ['slice id with a space and "!"', () => alloc('bad slice!', topo())(), INVALID_ARGUMENT, 'slice'],
    ['slice id of 64 characters', () => alloc('s'.repeat(64), topo())(), INVALID_ARGUMENT, 'slice'],
    ['slice id starting with "-"', () => alloc('-x', topo())(), INVALID_ARGUMENT, 'slice'],
    // topology structure
    ['missing topology', () => alloc(S('x'), undefined)(), INVALID_ARGUMENT, 'topology'],
    ['no nodes', () => alloc(S('x'), { nodes: [], links: topo().links! })(), INVALID_ARGUMENT, 'topology.nodes'],
    ['no links', () => alloc(S('x'), { nodes: topo().nodes!, links: [] })(), INVALID_ARGUMENT, 'topology.links'],
    ['duplicate node id', () => alloc(S('x'), topo((t) => { t.nodes[1]!.id = 'r1'; }))(), INVALID_ARGUMENT, 'topology.nodes[1].id'],
    ['bad node id', () => alloc(S('x'), topo((t) => { t.nodes[0]!.id = 'r 1'; }))(), INVALID_ARGUMENT, 'topology.nodes[0].id'],
    ['node without a physical node', () => alloc(S('x'), topo((t) => { t.nodes[2]!.node = ''; }))(), INVALID_ARGUMENT, 'topology.nodes[2].node'],
    ['unknown physical node', () => alloc(S('x'), topo((t) => { t.nodes[2]!.node = 'n9'; }))(), INVALID_ARGUMENT, 'topology.nodes[2].node'],
    ['duplicate netns', () => alloc(S('x'), topo((t) => { t.nodes[0]!.netns = `vt-${lab.uid}-x`; t.nodes[1]!.netns = `vt-${lab.uid}-x`; }))(), INVALID_ARGUMENT, 'topology.nodes[1].netns'],
    ['netns with "/"', () => alloc(S('x'), topo((t) => { t.nodes[0]!.netns = `vt-${lab.uid}/x`; }))(), INVALID_ARGUMENT, 'topology.nodes[0].netns'],
    ['duplicate link id', () => alloc(S('x'), topo((t) => { t.links[1]!.id = 'l1'; }))(), INVALID_ARGUMENT, 'topology.links[1].id'],
    ['bad link id', () => alloc(S('x'), topo((t) => { t.links[0]!.id = 'l/1'; }))(), INVALID_ARGUMENT, 'topology.links[0].id'],
    ['link with 1 member', () => alloc(S('x'), topo((t) => { t.links[0]!.members = [{ node: 'r1' }]; }))(), INVALID_ARGUMENT, 'topology.links[0].members'],
    ['member of an unknown node', () => alloc(S('x'), topo((t) => { member(t, 0, 1).node = 'r7'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[1].node'],
    ['member twice', () => alloc(S('x'), topo((t) => { member(t, 1, 2).node = 'r1'; }))(), INVALID_ARGUMENT, 'topology.links[1].members[2].node'],
    ['link joining two routers on one physical node', () => alloc(S('x'), topo((t) => { t.nodes[1]!.node = 'n1'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[1].node'],
    // interface names
    ['ifname too long', () => alloc(S('x'), topo((t) => { member(t, 0, 0).ifname = 'a-very-long-ifname'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[0].ifname'],
    ['ifname "lo"', () => alloc(S('x'), topo((t) => { member(t, 0, 1).ifname = 'lo'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[1].ifname'],
    ['ifname with "/"', () => alloc(S('x'), topo((t) => { member(t, 1, 2).ifname = 'eth/1'; }))(), INVALID_ARGUMENT, 'topology.links[1].members[2].ifname'],
    ['duplicate ifname on a node', () => alloc(S('x'), topo((t) => { member(t, 0, 0).ifname = 'x0'; member(t, 1, 0).ifname = 'x0'; }))(), INVALID_ARGUMENT, 'topology.links[1].members[0].ifname'],
    // explicit addresses
    ['explicit IPv4 malformed', () => alloc(S('x'), topo((t) => { member(t, 0, 0).ipv4 = '192.0.2.300'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[0].ipv4'],
    ['explicit IPv4 with a prefix length', () => alloc(S('x'), topo((t) => { member(t, 0, 0).ipv4 = '192.0.2.1/24'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[0].ipv4'],
    ['explicit IPv4 of the wrong family', () => alloc(S('x'), topo((t) => { member(t, 0, 1).ipv4 = '2001:db8::1'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[1].ipv4'],
    ['explicit IPv6 of the wrong family', () => alloc(S('x'), topo((t) => { member(t, 1, 1).ipv6 = '192.0.2.9'; }))(), INVALID_ARGUMENT, 'topology.links[1].members[1].ipv6'],
    ['explicit IPv6 on a link without IPv6', () => alloc(S('x'), topo((t) => { t.links[0]!.ipv6 = null; member(t, 0, 0).ipv6 = '2001:db8::1'; }))(), INVALID_ARGUMENT, 'topology.links[0].members[0].ipv6'],
    // (the IPAM checks the link's addresses together: the field is the link's IPv4 addressing, the message names the address)
    ['explicit IPv4 outside what the pool allows', () => alloc(S('x'), topo((t) => { member(t, 0, 0).ipv4 = '203.0.113.5'; }))(), INVALID_ARGUMENT, 'topology.links[0].ipv4'],
    ['explicit IPv4 taken by another member', () => alloc(S('x'), topo((t) => { member(t, 1, 0).ipv4 = '192.0.2.130'; member(t, 1, 2).ipv4 = '192.0.2.130'; }))(), INVALID_ARGUMENT, 'topology.links[1].members[2].ipv4'],
    // encapsulation, MTU, prefix lengths
    ['explicit IPv4 inside another slice\'s block', () => alloc(S('x'), topo((t) => { member(t, 0, 0).ipv4 = liveAddress; }))(), ALREADY_EXISTS, 'topology.links[0].ipv4'],
    // (A kind a member node lacks is refused the same way; since the userspace
    // engine gives every node every kind, that case lives in src/controller/place.test.ts.)
    ['gre LAN', () => alloc(S('x'), topo((t) => { t.links[1]!.encapsulation = 'ENCAPSULATION_GRE'; }))(), INVALID_ARGUMENT, 'topology.links[1].encapsulation'],
    ['mtu too big for the encapsulation', () => alloc(S('x'), topo((t) => { t.links[0]!.mtu = 1500; }))(), INVALID_ARGUMENT, 'topology.links[0].mtu'],
    ['mtu above 9000', () => alloc(S('x'), topo((t) => { t.links[0]!.mtu = 9001; }))(), INVALID_ARGUMENT, 'topology.links[0].mtu'],
    ['mtu too small', () => alloc(S('x'), topo((t) => { t.links[1]!.mtu = 500; }))(), INVALID_ARGUMENT, 'topology.links[1].mtu'],
    ['mtu below the IPv6 minimum on a dual-stack link', () => alloc(S('x'), topo((t) => { t.links[0]!.mtu = 1200; }))(), INVALID_ARGUMENT, 'topology.links[0].mtu'],
    ['IPv4 prefix length /32', () => alloc(S('x'), topo((t) => { t.links[0]!.ipv4 = { enabled: true, prefixLength: 32 }; }))(), INVALID_ARGUMENT, 'topology.links[0].ipv4.prefix_length'],
    ['IPv6 prefix length /8', () => alloc(S('x'), topo((t) => { t.links[1]!.ipv6 = { enabled: true, prefixLength: 8 }; }))(), INVALID_ARGUMENT, 'topology.links[1].ipv6.prefix_length'],
    ['LAN prefix too small for its members', () => alloc(S('x'), topo((t) => { t.links[1]!.ipv4 = { enabled: true, prefixLength: 31 }; }))(), INVALID_ARGUMENT, 'topology.links[1].ipv4.prefix_length'],
    // end time
    ['end_time malformed', () => alloc(S('x'), topo(), 'next tuesday')(), INVALID_ARGUMENT, 'end_time'],
    ['end_time without a zone', () => alloc(S('x'), topo(), '2030-01-01T00:00:00')(), INVALID_ARGUMENT, 'end_time'],
    ['end_time in the past', () => alloc(S('x'), topo(), future(-60_000))(), INVALID_ARGUMENT, 'end_time'],
    ['end_time too far', () => alloc(S('x'), topo(), future(40 * 24 * 3600_000))(), INVALID_ARGUMENT, 'end_time'],
    // slices that do not exist, or are in the wrong state
    ['Provision of an unknown slice', () => lab.api.links.provision({ slice: S('nope') }), NOT_FOUND, 'slice'],
    ['Status of an unknown slice', () => lab.api.links.status({ slice: S('nope') }), NOT_FOUND, 'slice'],
    ['Describe of an unknown slice', () => lab.api.links.describe({ slice: S('nope') }), NOT_FOUND, 'slice'],
    ['Renew of an unknown slice', () => lab.api.links.renew({ slice: S('nope'), endTime: future(3600_000) }), NOT_FOUND, 'slice'],
    ['Delete of an unknown slice', () => lab.api.links.delete({ slice: S('nope') }), NOT_FOUND, 'slice'],
    ['Shutdown of an unknown slice', () => lab.api.links.shutdown({ slice: S('nope') }), NOT_FOUND, 'slice'],
    ['Status with an invalid slice id', () => lab.api.links.status({ slice: 'a b' }), INVALID_ARGUMENT, 'slice'],
    ['Renew to the past', () => lab.api.links.renew({ slice: live, endTime: future(-1000) }), INVALID_ARGUMENT, 'end_time'],
    ['Renew without an end time', () => lab.api.links.renew({ slice: live, endTime: '' }), INVALID_ARGUMENT, 'end_time'],
    ['Allocate of an existing slice', () => alloc(live, topo())(), ALREADY_EXISTS, 'slice'],
    ['Allocate of an existing (allocated only) slice', () => alloc(allocated, topo())(), ALREADY_EXISTS, 'slice'],
    ['PerformOperationalAction on an unprovisioned slice', () => lab.api.links.performOperationalAction({ slice: allocated, slivers: [], action: 'OPERATIONAL_ACTION_STOP' }), FAILED_PRECONDITION, 'slice'],
    ['PerformOperationalAction with an unknown sliver', () => lab.api.links.performOperationalAction({ slice: live, slivers: [`${live}/l1`, `${live}/l9`], action: 'OPERATIONAL_ACTION_STOP' }), NOT_FOUND, 'slivers[1]'],
    ['PerformOperationalAction with action UNSPECIFIED', () => lab.api.links.performOperationalAction({ slice: live, slivers: [], action: 'OPERATIONAL_ACTION_UNSPECIFIED' }), INVALID_ARGUMENT, 'action'],
    ['PerformOperationalAction on an unknown slice', () => lab.api.links.performOperationalAction({ slice: S('nope'), slivers: [], action: 'OPERATIONAL_ACTION_START' }), NOT_FOUND, 'slice'],
    ['GetTunnel of an unknown sliver', () => lab.api.operator.getTunnel({ sliver: `${live}/l9`, node: '' }), NOT_FOUND, 'sliver'],
    ['GetTunnel with an empty sliver (it listed every tunnel of every slice)', () => lab.api.operator.getTunnel({ sliver: '', node: '' }), INVALID_ARGUMENT, 'sliver'],
    ['SetEgressNode for a node that never registered', () => lab.api.operator.setEgressNode({ config: { node: 'n9', asn: 64500, routerId: '198.18.0.9' } }), NOT_FOUND, 'config.node'],
    // BGP egress (no egress node is configured in this lab)
    ['egress link with 2 members', () => alloc(S('x'), topo((t) => { t.links[0]!.egress = { node: 'n3' }; }))(), INVALID_ARGUMENT, 'topology.links[0].members'],
    ['egress link to an unknown node', () => alloc(S('x'), topo((t) => { t.links = [{ ...t.links[0]!, members: [{ node: 'r1' }], egress: { node: 'n9' } }]; }))(), INVALID_ARGUMENT, 'topology.links[0].egress.node'],
    ['egress link to a node without egress', () => alloc(S('x'), topo((t) => { t.links = [{ ...t.links[0]!, members: [{ node: 'r1' }], egress: { node: 'n3' } }]; }))(), FAILED_PRECONDITION, 'topology.links[0].egress.node'],
    ['egress link with LOCAL addresses', () => alloc(S('x'), topo((t) => { t.links = [{ ...t.links[0]!, members: [{ node: 'r1' }], addressClass: 'ADDRESS_CLASS_LOCAL', egress: { node: 'n3' } }]; }))(), INVALID_ARGUMENT, 'topology.links[0].address_class'],
    ['egress link over layer-3 gre', () => alloc(S('x'), topo((t) => { t.links = [{ ...t.links[0]!, members: [{ node: 'r1' }], encapsulation: 'ENCAPSULATION_GRE', egress: { node: 'n3' } }]; }))(), INVALID_ARGUMENT, 'topology.links[0].encapsulation'],
    ['SetEgressNode without a config', () => lab.api.operator.setEgressNode({}), INVALID_ARGUMENT, 'config'],
    ['SetEgressNode with ASN 0', () => lab.api.operator.setEgressNode({ config: { node: 'n3', asn: 0, routerId: '198.18.0.3' } }), INVALID_ARGUMENT, 'config.asn'],
    ['SetEgressNode with an IPv6 router id', () => lab.api.operator.setEgressNode({ config: { node: 'n3', asn: 64500, routerId: '2001:db8::1' } }), INVALID_ARGUMENT, 'config.router_id'],
    ['SetEgressNode with a provider of our own ASN', () => lab.api.operator.setEgressNode({ config: { node: 'n3', asn: 64500, routerId: '198.18.0.3', providers: [{ address: '198.18.9.2', asn: 64500 }] } }), INVALID_ARGUMENT, 'config.providers[0].asn'],
    ['SetEgressNode with family "ipv5"', () => lab.api.operator.setEgressNode({ config: { node: 'n3', asn: 64500, routerId: '198.18.0.3', providers: [{ address: '198.18.9.2', asn: 64501, families: ['ipv5'] }] } }), INVALID_ARGUMENT, 'config.providers[0].families[0]'],
    ['SetEgressNode with a bad node name', () => lab.api.operator.setEgressNode({ config: { node: 'n 3', asn: 64500, routerId: '198.18.0.3' } }), INVALID_ARGUMENT, 'config.node'],
    ['SetEgressNode remove on a node without egress', () => lab.api.operator.setEgressNode({ config: { node: 'n3' }, remove: true }), NOT_FOUND, 'config.node'],
    ['Plan with a bad topology', () => lab.api.operator.plan({ slice: S('x'), topology: topo((t) => { member(t, 0, 1).node = 'r7'; }), endTime: '' }), INVALID_ARGUMENT, 'topology.links[0].members[1].node'],
    // More than the pools hold right now (the fixtures hold part of the /24): RESOURCE_EXHAUSTED, retry may work later …
    ['a LAN asking for a /24 while others hold part of the pool', () => alloc(S('x'), {
      nodes: topo().nodes!, links: [lan('big', ['r1', 'r2', 'r3'], { ipv4: { enabled: true, prefixLength: 24 }, ipv6: null })],
    })(), RESOURCE_EXHAUSTED, 'topology.links[0].ipv4'],
    // … more than a slice may ever hold (200 LANs of a /24 need a /16; a slice's block is at most a /24): no retry can help.
    ['a request larger than the pools (200 LANs asking /24 each)', () => alloc(S('x'), {
      nodes: topo().nodes!,
      links: Array.from({ length: 200 }, (_, k) => lan(`big${k}`, ['r1', 'r2', 'r3'], { ipv4: { enabled: true, prefixLength: 24 }, ipv6: null })),
    })(), INVALID_ARGUMENT, 'topology.links[0].ipv4'],
  ];

  /** Everything a bad request must not touch. */
  async function state(): Promise<string> {
    const store = (lab.ctl!.controller as unknown as { store: Store }).store; // (the one look behind the API: not one write)
    const snap = await store.read([{ prefix: '' }]);
    const slices = (await lab.api.operator.listSlices({})).slices;
    const tunnels = (await lab.api.operator.listTunnels({})).tunnels.map((t) => `${t.sliver}@${t.node}:${t.state}`).sort();
    // This lab's namespaces only (its slices' names carry its uid): other test files run beside this one
    // and make and remove namespaces of their own meanwhile.
    const namespaces = readdirSync('/run/netns').filter((n) => n.includes(lab.uid)).sort();
    const kernel = [...lab.nodes.map((n) => n.ns), ...namespaces].map((ns) => `${ns}: ${links(ns).map((l) => `${l.ifname}#${l.ifindex}`).sort().join(' ')}`);
    return JSON.stringify({ revision: snap.revision, keys: snap.results[0]!.map((e) => `${e.key}@${e.modRevision}`), slices, tunnels, namespaces, kernel }, null, 1);
  }

  it(`has at least 30 distinct cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map(([n]) => n)).size).toBe(cases.length);
  });

  it.each(cases)('%s', async (_name, call, code, field) => {
    const before = await state();
    let err: ServiceError | undefined;
    try { await call(); } catch (e) { err = e as ServiceError; }
    expect(err, 'the call must fail').toBeDefined();
    expect({ code: grpcStatus[err!.code], details: err!.details }).toMatchObject({ code: grpcStatus[code] });
    expect(err!.details.startsWith(`${field}: `), `"${err!.details}" starts with "${field}: "`).toBe(true);
    expect(err!.metadata.get('visp-field')[0], 'visp-field metadata').toBe(field);
    expect(await state()).toBe(before);
  });

  it('the fixtures were not disturbed: the live slice is still READY, the allocated one still ALLOCATED', async () => {
    expect((await lab.api.links.status({ slice: live })).manifest!.operationalState).toBe('OPERATIONAL_STATE_READY');
    expect((await lab.api.links.status({ slice: allocated })).manifest!.allocationState).toBe('ALLOCATION_STATE_ALLOCATED');
    for (const s of [live, allocated]) await lab.api.links.delete({ slice: s });
  });
});
