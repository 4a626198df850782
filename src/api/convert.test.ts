// Every converter of convert.ts against what it should convert and against
// garbage (numbers where enums or strings belong, unknown strings, missing or
// mistyped nested messages): garbage is refused with a VispError naming the
// field (InvalidSpecError from a message, IncompatibleStateError into one),
// never a TypeError or a bare Error.
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import { expectRefused } from '../../test/helpers/refused.js';
import type { Manifest, Topology } from '../controller/model.js';
import type { DesiredEndpoint } from '../controller/desired.js';
import type { DesiredState, TunnelView } from '../controller/controller.js';
import type { Report } from '../agent/agent.js';
import {
  actionFromPb, allocationToPb, capabilityFromPb, capabilityToPb, classToPb, encapFromPb, encapToPb, endpointFromPb, endpointToPb, kindFromPb,
  manifestToPb, stateFromPb, stateToPb, topologyFromPb,
  desiredStateFromPb, desiredStateToPb, eventToPb, nodePlanToPb, nodeToPb, planQueryFromPb, planQueryToPb, planResultFromPb, planResultToPb, registerFromPb,
  registerToPb, reportFromPb, reportToPb, resourceToPb, sliceRequestFromPb, sliceToPb, topologyToPb, tunnelFilterFromPb, tunnelToPb, versionToPb,
} from './convert.js';
import { iso } from './fields.js';
import { visp } from './proto.js';

const link = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'l1', members: [{ node: 'r1', ifname: '', ipv4: '', ipv6: '' }, { node: 'r2', ifname: 'eth7', ipv4: '192.0.2.1', ipv6: '' }],
  encapsulation: 'ENCAPSULATION_VXLAN', mtu: 0, addressClass: 'ADDRESS_CLASS_PUBLIC', ipv4: { enabled: true, prefixLength: 0 }, ipv6: null, egress: null, ...extra,
});
const topo = (l: Record<string, unknown> = link()): Record<string, unknown> => ({ nodes: [{ id: 'r1', node: 'n1', netns: '' }, { id: 'r2', node: 'n2', netns: 'x' }], links: [l] });

describe('enums from messages', () => {
  it.each<[string, () => unknown, unknown]>([
    ['encapsulation VXLAN', () => encapFromPb('ENCAPSULATION_VXLAN', 'e'), 'vxlan'],
    ['encapsulation UNSPECIFIED is auto', () => encapFromPb('ENCAPSULATION_UNSPECIFIED', 'e'), 'auto'],
    ['encapsulation unset is auto', () => encapFromPb(undefined, 'e'), 'auto'],
    ['every kind round-trips', () => (['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'etherip', 'auto'] as const).map((k) => encapFromPb(encapToPb(k), 'e')), ['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'etherip', 'auto']],
    ['a tunnel kind', () => kindFromPb('ENCAPSULATION_ETHERIP', 'k'), 'etherip'],
    ['state READY', () => stateFromPb('OPERATIONAL_STATE_READY'), 'ready'],
    ['state UNSPECIFIED: any', () => stateFromPb('OPERATIONAL_STATE_UNSPECIFIED'), undefined],
    ['state unset: any', () => stateFromPb(''), undefined],
    ['action RESTART', () => actionFromPb('OPERATIONAL_ACTION_RESTART'), 'restart'],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string, RegExp]>([
    // The decoder hands an enum value this version does not know through as a number (see the wire test below).
    ['state as an unknown number (ListTunnels)', () => stateFromPb(99), 'state', /^state: unknown operational state value 99 \(expected one of OPERATIONAL_STATE_UNSPECIFIED, .*OPERATIONAL_STATE_STOPPED, OPERATIONAL_STATE_DEGRADED, OPERATIONAL_STATE_DOWN\)$/],
    ['state as a known number', () => stateFromPb(3), 'state', /unknown operational state value 3/],
    ['state as an unknown string', () => stateFromPb('OPERATIONAL_STATE_BROKEN', 'report.endpoints[2].state'), 'report.endpoints[2].state', /unknown operational state "OPERATIONAL_STATE_BROKEN"/],
    ['state as lower case', () => stateFromPb('ready'), 'state', /unknown operational state "ready"/],
    ['state as an object', () => stateFromPb({ replace: 1 }), 'state', /unknown operational state/],
    ['state named like an Object method', () => stateFromPb('constructor'), 'state', /unknown operational state "constructor"/],
    ['encapsulation as a number', () => encapFromPb(7, 'topology.links[0].encapsulation'), 'topology.links[0].encapsulation', /unknown encapsulation value 7/],
    ['encapsulation unknown', () => encapFromPb('ENCAPSULATION_IPIP', 'e'), 'e', /unknown encapsulation "ENCAPSULATION_IPIP"/],
    ['encapsulation named like an Object method', () => encapFromPb('toString', 'e'), 'e', /unknown encapsulation "toString"/],
    ['AUTO where a tunnel kind is needed', () => kindFromPb('ENCAPSULATION_AUTO', 'k'), 'k', /expected a tunnel kind/],
    ['unset where a tunnel kind is needed', () => kindFromPb(undefined, 'k'), 'k', /expected a tunnel kind/],
    ['action unset', () => actionFromPb('OPERATIONAL_ACTION_UNSPECIFIED'), 'action', /^action: is required: one of OPERATIONAL_ACTION_START, OPERATIONAL_ACTION_STOP, OPERATIONAL_ACTION_RESTART$/],
    ['action as a number', () => actionFromPb(2), 'action', /unknown operational action value 2/],
    ['action named like an Object method', () => actionFromPb('constructor'), 'action', /unknown operational action/],
  ])('refuses %s', (_what, f, field, msg) => expectRefused(f, InvalidSpecError, field, msg));

  it('the wire: a ListTunnelsRequest with state 99 decodes to the number 99, which is refused naming the field', () => {
    const decode = (visp().def['visp.v1.Operator'] as unknown as Record<string, { requestDeserialize(b: Buffer): { state: unknown } }>).ListTunnels!.requestDeserialize;
    const req = decode(Buffer.from([0x18, 99])); // field 3 (state), varint 99
    expect(req.state).toBe(99);
    expectRefused(() => stateFromPb(req.state), InvalidSpecError, 'state', /unknown operational state value 99/);
  });
});

describe('enums into messages', () => {
  it.each<[string, () => unknown, unknown]>([
    ['auto', () => encapToPb('auto'), 'ENCAPSULATION_AUTO'],
    ['etherip', () => encapToPb('etherip'), 'ENCAPSULATION_ETHERIP'],
    ['a class', () => classToPb('private'), 'ADDRESS_CLASS_PRIVATE'],
    ['a state', () => stateToPb('stopped'), 'OPERATIONAL_STATE_STOPPED'],
    ['an allocation state', () => allocationToPb('unallocated'), 'ALLOCATION_STATE_UNALLOCATED'],
    ['kinds as a list (the index names the field)', () => (['vxlan', 'gre'] as const).map(encapToPb), ['ENCAPSULATION_VXLAN', 'ENCAPSULATION_GRE']],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string]>([
    ['an unknown kind', () => encapToPb('ipip' as never), 'encapsulation'],
    ['a number for a kind', () => encapToPb(2 as never), 'encapsulation'],
    ['a kind in a list', () => (['vxlan', 'ipip'] as never[]).map(encapToPb), 'encapsulations[1]'],
    ['an unknown class', () => classToPb('global' as never), 'address_class'],
    ['undefined for a class', () => classToPb(undefined as never), 'address_class'],
    ['an unknown state', () => stateToPb('sleeping'), 'state'],
    ['a number for a state', () => stateToPb(3 as never), 'state'],
    ['null for a state', () => stateToPb(null as never), 'state'],
    ['an unknown allocation state', () => allocationToPb('shutdown' as never), 'allocation_state'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, IncompatibleStateError, field, /cannot be sent/));
});

describe('topologyFromPb', () => {
  it('converts a topology; unset families mean IPv4; an egress link\'s class defaults to public', () => {
    expect(topologyFromPb(topo())).toEqual({
      nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2', netns: 'x' }],
      links: [{ id: 'l1', members: [{ node: 'r1' }, { node: 'r2', ifname: 'eth7', ipv4: '192.0.2.1' }], encapsulation: 'vxlan', addressClass: 'public', ipv4: {} }],
    });
    expect(topologyFromPb(topo(link({ ipv4: null, ipv6: { enabled: true, prefixLength: 64 }, mtu: 1400 })))!.links[0]).toMatchObject({ ipv6: { prefixLength: 64 }, mtu: 1400 });
    expect(topologyFromPb(topo(link({ ipv4: { enabled: false, prefixLength: 30 } })))!.links[0]!.ipv4).toEqual({});
    expect(topologyFromPb(topo(link({ addressClass: 'ADDRESS_CLASS_UNSPECIFIED', egress: { node: 'e1', routes: 'EGRESS_ROUTES_FULL', noDefaultRoute: true } })))!.links[0])
      .toMatchObject({ addressClass: 'public', egress: { node: 'e1', routes: 'full', defaultRoute: false } });
    expect(topologyFromPb(null)).toBeUndefined();
    expect(topologyFromPb(undefined)).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['a string for the topology', 'r1--r2', 'topology'],
    ['a list for the topology', [], 'topology'],
    ['a number for the node list', { nodes: 3, links: [] }, 'topology.nodes'],
    ['a null node', { nodes: [null], links: [] }, 'topology.nodes[0]'],
    ['a number for a node id', { nodes: [{ id: 7, node: 'n1' }], links: [] }, 'topology.nodes[0].id'],
    ['an object for a namespace', { nodes: [{ id: 'r1', node: 'n1', netns: {} }], links: [] }, 'topology.nodes[0].netns'],
    ['a null link', topo(null as never), 'topology.links[0]'],
    ['a string for a link', { nodes: [], links: ['l1'] }, 'topology.links[0]'],
    ['an encapsulation number', topo(link({ encapsulation: 42 })), 'topology.links[0].encapsulation'],
    ['an unknown encapsulation', topo(link({ encapsulation: 'ENCAPSULATION_MPLS' })), 'topology.links[0].encapsulation'],
    ['an address class number', topo(link({ addressClass: 9 })), 'topology.links[0].address_class'],
    ['an unknown address class', topo(link({ addressClass: 'ADDRESS_CLASS_GLOBAL' })), 'topology.links[0].address_class'],
    ['a negative MTU', topo(link({ mtu: -1 })), 'topology.links[0].mtu'],
    ['a string MTU', topo(link({ mtu: '1500' })), 'topology.links[0].mtu'],
    ['a string for addressing', topo(link({ ipv4: 'yes' })), 'topology.links[0].ipv4'],
    ['a string for enabled', topo(link({ ipv6: { enabled: 'true' } })), 'topology.links[0].ipv6.enabled'],
    ['a fractional prefix length', topo(link({ ipv6: { enabled: true, prefixLength: 64.5 } })), 'topology.links[0].ipv6.prefix_length'],
    ['a string for the member list', topo(link({ members: 'r1,r2' })), 'topology.links[0].members'],
    ['a null member', topo(link({ members: [null] })), 'topology.links[0].members[0]'],
    ['a number for a member node', topo(link({ members: [{ node: 1 }] })), 'topology.links[0].members[0].node'],
    ['a list for a member address', topo(link({ members: [{ node: 'r1', ipv4: ['192.0.2.1'] }] })), 'topology.links[0].members[0].ipv4'],
    ['a string for egress', topo(link({ egress: 'e1' })), 'topology.links[0].egress'],
    ['egress routes as a number', topo(link({ egress: { node: 'e1', routes: 5 } })), 'topology.links[0].egress.routes'],
    ['unknown egress routes', topo(link({ egress: { node: 'e1', routes: 'EGRESS_ROUTES_SOME' } })), 'topology.links[0].egress.routes'],
    ['a number for no_default_route', topo(link({ egress: { node: 'e1', noDefaultRoute: 1 } })), 'topology.links[0].egress.no_default_route'],
  ])('refuses %s', (_what, t, field) => expectRefused(() => topologyFromPb(t), InvalidSpecError, field));
});

describe('capabilities', () => {
  it('round-trip', () => {
    const c = { kind: 'gretap' as const, supported: false, reason: 'no ip_gre' };
    expect(capabilityFromPb(capabilityToPb(c))).toEqual(c);
    expect(capabilityFromPb({ encapsulation: 'ENCAPSULATION_VXLAN', supported: true, reason: '' })).toEqual({ kind: 'vxlan', supported: true });
  });

  it.each<[string, () => unknown, string]>([
    ['a null capability', () => capabilityFromPb(null), 'capability'],
    ['an encapsulation number', () => capabilityFromPb({ encapsulation: 12, supported: true }), 'capability.encapsulation'],
    ['AUTO as a capability', () => capabilityFromPb({ encapsulation: 'ENCAPSULATION_AUTO', supported: true }), 'capability.encapsulation'],
    ['a string for supported', () => capabilityFromPb({ encapsulation: 'ENCAPSULATION_VXLAN', supported: 'yes' }), 'capability.supported'],
    ['a number for the reason', () => capabilityFromPb({ encapsulation: 'ENCAPSULATION_VXLAN', reason: 5 }), 'capability.reason'],
    ['garbage in a list (the index names the field)', () => [{ encapsulation: 'ENCAPSULATION_VXLAN' }, { encapsulation: 99 }].map(capabilityFromPb), 'capabilities[1].encapsulation'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, InvalidSpecError, field));

  it.each<[string, () => unknown, string]>([
    ['an unknown kind', () => capabilityToPb({ kind: 'ipip' as never, supported: true }), 'capability.encapsulation'],
    ['a null capability', () => capabilityToPb(null as never), 'capability'],
    ['a string for supported', () => capabilityToPb({ kind: 'vxlan', supported: 'no' as never }), 'capability.supported'],
  ])('refuses to send %s', (_what, f, field) => expectRefused(f, IncompatibleStateError, field));
});

describe('endpoints', () => {
  const ep: DesiredEndpoint = {
    slice: 's', link: 'l', group: 4096, kind: 'etherip', local: '198.18.0.1', remotes: ['198.18.0.2'], lan: false, key: 0, netns: 'visp-s-r1',
    ifname: 'eth1', addresses: ['192.0.2.0/31'], adminDown: false, restart: 2, routes: [{ dst: '0.0.0.0/0', via: '192.0.2.1' }],
  };

  it('round-trip', () => {
    expect(endpointFromPb(endpointToPb(ep))).toEqual(ep);
    expect(endpointFromPb(endpointToPb({ ...ep, mtu: 1400, egress: true }))).toEqual({ ...ep, mtu: 1400, egress: true });
  });

  it.each<[string, unknown, string]>([
    ['a null endpoint', null, 'endpoint'],
    ['an unknown kind', { ...ep, kind: 'ipip' }, 'endpoint.kind'],
    ['a number for the kind', { ...ep, kind: 3 }, 'endpoint.kind'],
    ['a string for the group', { ...ep, group: '4096' }, 'endpoint.group'],
    ['a group beyond 32 bits', { ...ep, group: 2 ** 32 }, 'endpoint.group'],
    ['a string for the remotes', { ...ep, remotes: '198.18.0.2' }, 'endpoint.remotes'],
    ['a number among the remotes', { ...ep, remotes: ['198.18.0.2', 7] }, 'endpoint.remotes[1]'],
    ['a null route', { ...ep, routes: [null] }, 'endpoint.routes[0]'],
    ['a number for a route\'s gateway', { ...ep, routes: [{ dst: '::/0', via: 6 }] }, 'endpoint.routes[0].via'],
    ['a string for admin_down', { ...ep, adminDown: 'no' }, 'endpoint.admin_down'],
  ])('refuses %s', (_what, e, field) => expectRefused(() => endpointFromPb(e), InvalidSpecError, field));

  it('names the index when mapped over a list', () => {
    expectRefused(() => [ep, { ...ep, kind: 'x' }].map(endpointFromPb), InvalidSpecError, 'endpoints[1].kind');
  });

  it.each<[string, unknown, string]>([
    ['a null endpoint', null, 'endpoint'],
    ['an unknown kind', { ...ep, kind: 'ipip' }, 'endpoint.kind'],
  ])('refuses to send %s', (_what, e, field) => expectRefused(() => endpointToPb(e as DesiredEndpoint), IncompatibleStateError, field));
});

// ---- the services' own messages --------------------------------------------------------

/** `v` as the other side decodes it: encoded as message `type` and decoded with the server's options. */
const wire = <T>(type: string, v: object): T => {
  const t = visp().def[`visp.v1.${type}`] as unknown as { serialize(v: object): Buffer; deserialize(b: Buffer): T };
  return t.deserialize(t.serialize(v));
};

describe('requests', () => {
  const req = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ slice: 's1', topology: topo(), endTime: '', ...extra });

  it.each<[string, () => unknown, unknown]>([
    ['a slice request', () => sliceRequestFromPb(req() as never), { slice: 's1', topology: topologyFromPb(topo()) }],
    ['with an end time', () => sliceRequestFromPb(req({ endTime: '2030-01-01T00:00:00Z' }) as never)?.endTime, '2030-01-01T00:00:00Z'],
    ['an empty slice name is left to the validator', () => sliceRequestFromPb(req({ slice: '' }) as never).slice, ''],
    ['a tunnel filter, all empty: everything', () => tunnelFilterFromPb({ node: '', slice: '', state: 'OPERATIONAL_STATE_UNSPECIFIED' }), {}],
    ['a tunnel filter', () => tunnelFilterFromPb({ node: 'n1', slice: 's1', state: 'OPERATIONAL_STATE_FAILED' }), { node: 'n1', slice: 's1', state: 'failed' }],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string]>([
    ['no request', () => sliceRequestFromPb(null as never), 'request'],
    ['no topology (the decoder gives null)', () => sliceRequestFromPb(req({ topology: null }) as never), 'topology'],
    ['an absent topology', () => sliceRequestFromPb(req({ topology: undefined }) as never), 'topology'],
    ['garbage inside the topology', () => sliceRequestFromPb(req({ topology: { nodes: [], links: [7] } }) as never), 'topology.links[0]'],
    ['a number for the end time', () => sliceRequestFromPb(req({ endTime: 2030 }) as never), 'end_time'],
    ['an unknown state in a tunnel filter (ListTunnels)', () => tunnelFilterFromPb({ node: '', slice: '', state: 99 as never }), 'state'],
    ['a state named like an Object method', () => tunnelFilterFromPb({ node: '', slice: '', state: 'valueOf' as never }), 'state'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, InvalidSpecError, field));
});

describe('what the Links and Operator services show', () => {
  const t0 = Date.UTC(2030, 0, 1);
  const manifest = (): Manifest => ({
    slice: 's', allocation: 'provisioned', state: 'failed', endTime: t0, groupId: 4096, blocks: [],
    slivers: (['ready', 'failed', 'ready', 'configuring'] as const).map((state, i) => ({
      id: `s/l${i}`, state, endpoints: [],
      link: { id: `l${i}`, kind: 'vxlan', key: 7, mtu: 1450, lan: false, addressClass: 'local', endpoints: [], stopped: false, restart: 0 },
    })),
  });
  const tunnel = (): TunnelView => ({
    slice: 's', link: 'l', node: 'n1', kind: 'gretap', key: 9, local: '198.18.0.1', remotes: ['198.18.0.2'], devices: ['vt1'], netns: 'visp-s:r1',
    ifname: 'eth1', addresses: ['192.0.2.0/31'], state: 'ready', rxPackets: 2 ** 40, txPackets: 1, rxBytes: 0, txBytes: 5,
  });
  const node = { name: 'n1', underlay: ['198.18.0.1'], capabilities: [{ kind: 'vxlan' as const, supported: true }], lastSeen: t0, connected: true, endpoints: 3 };

  it.each<[string, () => unknown, unknown]>([
    ['the version', () => versionToPb({ software: 'visp 0.1.0', encapsulations: ['vxlan', 'etherip'] }),
      { api: 'visp.v1', geniApi: 3, software: 'visp 0.1.0', encapsulations: ['ENCAPSULATION_VXLAN', 'ENCAPSULATION_ETHERIP'] }],
    ['a resource', () => resourceToPb({ name: 'n1', connected: false, underlay: ['198.18.0.1'], encapsulations: ['gre'] }),
      { name: 'n1', connected: false, underlayAddresses: ['198.18.0.1'], encapsulations: ['ENCAPSULATION_GRE'] }],
    ['a node', () => nodeToPb(node), {
      name: 'n1', connected: true, lastSeen: '2030-01-01T00:00:00.000Z', underlayAddresses: ['198.18.0.1'], endpoints: 3,
      capabilities: [{ encapsulation: 'ENCAPSULATION_VXLAN', supported: true, reason: '' }],
    }],
    ['a slice: its slivers counted', () => sliceToPb(manifest()), {
      slice: 's', allocationState: 'ALLOCATION_STATE_PROVISIONED', operationalState: 'OPERATIONAL_STATE_FAILED', endTime: '2030-01-01T00:00:00.000Z', expires: '',
      links: 4, ready: 2, failed: 1,
    }],
    ['a tunnel: unset optionals are empty, counters past 32 bits kept', () => tunnelToPb(tunnel()), {
      sliver: 's/l', slice: 's', link: 'l', node: 'n1', encapsulation: 'ENCAPSULATION_GRETAP', key: 9, local: '198.18.0.1', remotes: ['198.18.0.2'], bridge: '',
      devices: ['vt1'], netns: 'visp-s:r1', ifname: 'eth1', addresses: ['192.0.2.0/31'], state: 'OPERATIONAL_STATE_READY', error: '',
      rxPackets: 2 ** 40, txPackets: 1, rxBytes: 0, txBytes: 5, dataplane: '', health: [],
    }],
    ['a tunnel\'s health through the wire: per pair, undecided as UNSPECIFIED', () => wire<Record<string, unknown>>('Tunnel', tunnelToPb({ ...tunnel(), state: 'degraded', error: 'x', health: [
      { remote: '198.18.0.2', device: 'vt1', alive: true, rttP50Ms: 0.05, rttP99Ms: 0.25, loss: 0.5, sent: 40, answered: 20 },
      { remote: '198.18.0.3', device: 'vt1', alive: false, loss: 1, sent: 40, answered: 0, reason: 'no probe answer from 198.18.0.3 over gretap key 9 ever' },
      { remote: '198.18.0.4', device: 'vt1', alive: undefined, loss: 0, sent: 2, answered: 0 },
    ] })).health, [
      { remote: '198.18.0.2', device: 'vt1', state: 'OPERATIONAL_STATE_READY', rttP50Ms: 0.05, rttP99Ms: 0.25, loss: 0.5, sent: 40, answered: 20, reason: '' },
      { remote: '198.18.0.3', device: 'vt1', state: 'OPERATIONAL_STATE_DOWN', rttP50Ms: 0, rttP99Ms: 0, loss: 1, sent: 40, answered: 0, reason: 'no probe answer from 198.18.0.3 over gretap key 9 ever' },
      { remote: '198.18.0.4', device: 'vt1', state: 'OPERATIONAL_STATE_UNSPECIFIED', rttP50Ms: 0, rttP99Ms: 0, loss: 0, sent: 2, answered: 0, reason: '' },
    ]],
    ['a tunnel through the wire', () => wire<Record<string, unknown>>('Tunnel', tunnelToPb({ ...tunnel(), bridge: 'vb1', error: 'x', dataplane: 'userspace' })),
      { ...tunnelToPb(tunnel()), bridge: 'vb1', error: 'x', dataplane: 'userspace' }],
    ['an event about a sliver', () => eventToPb({ time: t0, kind: 'state', slice: 's', link: 'l', node: 'n1', state: 'ready', message: 'up' }),
      { time: '2030-01-01T00:00:00.000Z', kind: 'state', slice: 's', link: 'l', node: 'n1', state: 'OPERATIONAL_STATE_READY', message: 'up' }],
    ['an event about no sliver', () => eventToPb({ time: t0, kind: 'agent', node: 'n1', message: 'connected' }),
      { time: '2030-01-01T00:00:00.000Z', kind: 'agent', slice: '', link: '', node: 'n1', state: 'OPERATIONAL_STATE_UNSPECIFIED', message: 'connected' }],
    ['a node plan', () => [{ node: 'n1', steps: ['linkAdd vx1'] }, { node: 'n2', steps: [], error: 'not connected' }].map(nodePlanToPb),
      [{ node: 'n1', steps: ['linkAdd vx1'], error: '' }, { node: 'n2', steps: [], error: 'not connected' }]],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string]>([
    ['an unknown kind in the version', () => versionToPb({ software: 'v', encapsulations: ['vxlan', 'geneve' as never] }), 'encapsulations[1]'],
    ['an unknown kind of a resource in a list', () => [{ name: 'n1', connected: true, underlay: [], encapsulations: ['ipip' as never] }].map(resourceToPb), 'nodes[0].encapsulations[0]'],
    ['a node last seen at no time', () => [node, { ...node, lastSeen: NaN }].map(nodeToPb), 'nodes[1].last_seen'],
    ['a node with an unknown capability', () => nodeToPb({ ...node, capabilities: [{ kind: 'ipip' as never, supported: true }] }), 'node.capabilities[0].encapsulation'],
    ['a slice in an unknown allocation state', () => [{ ...manifest(), allocation: 'shutdown' as never }].map(sliceToPb), 'slices[0].allocation_state'],
    ['a slice in an unknown state', () => sliceToPb({ ...manifest(), state: 'broken' as never }), 'slice.operational_state'],
    ['a tunnel of an unknown kind', () => [tunnel(), { ...tunnel(), kind: 'ipip' as never }].map(tunnelToPb), 'tunnels[1].encapsulation'],
    ['a tunnel in an unknown state', () => tunnelToPb({ ...tunnel(), state: 'gone' }), 'tunnel.state'],
    ['a tunnel with a negative counter', () => tunnelToPb({ ...tunnel(), txBytes: -1 }), 'tunnel.tx_bytes'],
    ['a tunnel key past 32 bits', () => tunnelToPb({ ...tunnel(), key: 2 ** 32 }), 'tunnel.key'],
    ['an event in an unknown state', () => eventToPb({ time: t0, kind: 'state', state: 'gone', message: '' }), 'state'],
    ['an event at no time', () => eventToPb({ time: Infinity, kind: 'x', message: '' }), 'time'],
  ])('refuses to send %s', (_what, f, field) => expectRefused(f, IncompatibleStateError, field, /cannot be sent/));
});

describe('the Agent stream', () => {
  const ep: DesiredEndpoint = {
    slice: 's', link: 'l', group: 4096, kind: 'vxlan', local: '198.18.0.1', remotes: ['198.18.0.2'], lan: false, key: 4711, netns: 'visp-s:r1',
    ifname: 'eth1', addresses: ['192.0.2.0/31'], mtu: 1450, adminDown: false, restart: 0,
  };
  const identity = { underlay: ['198.18.0.1'], underlayMtu: { '198.18.0.1': 1500 }, capabilities: [{ kind: 'vxlan' as const, supported: true }, { kind: 'gre' as const, supported: false, reason: 'no ip_gre' }] };
  const generation = Date.UTC(2030, 0, 1); // generations are times in ms: past 32 bits
  const report: Report = {
    generation, repairs: ['s/l: repaired: x (now ready)'], tornDown: ['old'], reservedNamespaces: ['visp-node'],
    endpoints: [{ slice: 's', link: 'l', state: 'ready', devices: ['vx1'], rxPackets: 2 ** 33, txPackets: 2, rxBytes: 3, txBytes: 4, dataplane: 'kernel' },
      { slice: 's', link: 'm', state: 'failed', error: 'EEXIST', bridge: 'vb1', devices: [], rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0 },
      { slice: 's', link: 'n', state: 'down', error: 'no probe answer from 198.18.0.2 over vxlan VNI 5 ever', devices: ['vx2'], rxPackets: 0, txPackets: 9, rxBytes: 0, txBytes: 900,
        health: [{ remote: '198.18.0.2', device: 'vx2', alive: false, loss: 1, sent: 40, answered: 0, reason: 'no probe answer from 198.18.0.2 over vxlan VNI 5 ever' }] }],
  };
  const desired: DesiredState = { generation, endpoints: [ep], teardowns: [{ slice: 'old', group: 4097, namespaces: ['visp-old:r1'] }] };

  it.each<[string, () => unknown, unknown]>([
    ['register, through the wire', () => registerFromPb(wire('Register', registerToPb('n1', identity, ['visp-node'], 'visp 0.1.0'))),
      { node: 'n1', ...identity, reservedNamespaces: ['visp-node'] }],
    ['register without a node name or namespaces', () => registerFromPb({ node: '', underlayAddresses: [], capabilities: [], version: '', reservedNamespaces: null, underlayMtus: {} }),
      { node: '', underlay: [], capabilities: [], underlayMtu: {} }],
    ['a report, through the wire', () => reportFromPb(wire('Report', reportToPb(report))), { ...report, egress: undefined }],
    ['a report without namespaces keeps the last ones (absent)', () => 'reservedNamespaces' in reportFromPb(wire('Report', { generation: 1 })), false],
    ['a report sent without its unchanged namespaces says so (absent, not empty)', () => 'reservedNamespaces' in reportFromPb(wire('Report', reportToPb({ ...report, reservedNamespaces: undefined }))), false],
    ['an empty list is sent as one (nothing reserved)', () => reportFromPb(wire('Report', reportToPb({ ...report, reservedNamespaces: [] }))).reservedNamespaces, []],
    ['an endpoint\'s state UNSPECIFIED reads as configuring', () => reportFromPb(wire('Report', { endpoints: [{ slice: 's', link: 'l' }] })).endpoints[0]!.state, 'configuring'],
    ['a desired state, through the wire', () => desiredStateFromPb(wire('DesiredState', desiredStateToPb(desired))), desired],
    ['a plan query, through the wire', () => planQueryFromPb(wire('PlanQuery', planQueryToPb(7, [ep]))), { id: 7, endpoints: [ep] }],
    ['a plan result, through the wire', () => planResultFromPb(wire('PlanResult', planResultToPb(7, { endpoints: [{ slice: 's', link: 'l', steps: ['a'] }, { slice: 's', link: 'm', steps: [], error: 'no' }] }))),
      { id: 7, reply: { endpoints: [{ slice: 's', link: 'l', steps: ['a'] }, { slice: 's', link: 'm', steps: [], error: 'no' }] } }],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string]>([
    ['no register', () => registerFromPb(null), 'register'],
    ['a capability number from a newer agent', () => registerFromPb({ ...registerToPb('n1', identity, [], ''), capabilities: [{ encapsulation: 42 }] } as never), 'register.capabilities[0].encapsulation'],
    ['a string for an MTU', () => registerFromPb({ ...registerToPb('n1', identity, [], ''), underlayMtus: { '198.18.0.1': '1500' } } as never), 'register.underlay_mtus["198.18.0.1"]'],
    ['a string for the namespace list', () => registerFromPb({ ...registerToPb('n1', identity, [], ''), reservedNamespaces: 'visp-node' } as never), 'register.reserved_namespaces'],
    ['no report', () => reportFromPb(undefined), 'report'],
    ['a pair in a state a pair cannot be in', () => reportFromPb({ endpoints: [{ slice: 's', link: 'l', health: [{ state: 'OPERATIONAL_STATE_FAILED' }] }] }), 'report.endpoints[0].health[0].state'],
    ['a negative loss', () => reportFromPb({ endpoints: [{ slice: 's', link: 'l', health: [{ state: 'OPERATIONAL_STATE_READY', remote: 'a', device: 'b', loss: -1 }] }] }), 'report.endpoints[0].health[0].loss'],
    ['an unknown endpoint state', () => reportFromPb({ ...reportToPb(report), endpoints: [{ slice: 's', link: 'l', state: 9 }] } as never), 'report.endpoints[0].state'],
    ['a negative counter', () => reportFromPb({ ...reportToPb(report), endpoints: [{ slice: 's', link: 'l', rxBytes: -1 }] } as never), 'report.endpoints[0].rx_bytes'],
    ['a fractional generation', () => reportFromPb({ ...reportToPb(report), generation: 1.5 } as never), 'report.generation'],
    ['egress garbage', () => reportFromPb({ ...reportToPb(report), egress: { enabled: 'yes' } } as never), 'report.egress.enabled'],
    ['no desired state', () => desiredStateFromPb(null), 'desired'],
    ['a kind this agent does not know', () => desiredStateFromPb({ ...desiredStateToPb(desired), endpoints: [{ ...ep, kind: 'geneve' }] } as never), 'desired.endpoints[0].kind'],
    ['a null teardown', () => desiredStateFromPb({ ...desiredStateToPb(desired), teardowns: [null] } as never), 'desired.teardowns[0]'],
    ['a teardown group as a string', () => desiredStateFromPb({ ...desiredStateToPb(desired), teardowns: [{ slice: 'x', group: '7' }] } as never), 'desired.teardowns[0].group'],
    ['desired egress garbage', () => desiredStateFromPb({ ...desiredStateToPb(desired), egress: { enabled: true, providers: [null] } } as never), 'desired.egress.providers[0]'],
    ['a plan query with a null endpoint', () => planQueryFromPb({ id: 1, endpoints: [null] } as never), 'plan.endpoints[0]'],
    ['a plan result with steps as a string', () => planResultFromPb({ id: 1, endpoints: [{ slice: 's', link: 'l', steps: 'a' }] } as never), 'plan_result.endpoints[0].steps'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, InvalidSpecError, field));

  it.each<[string, () => unknown, string]>([
    ['an endpoint of an unknown kind', () => desiredStateToPb({ ...desired, endpoints: [ep, { ...ep, kind: 'ipip' as never }] }), 'desired.endpoints[1].kind'],
    ['a fractional generation', () => desiredStateToPb({ ...desired, generation: 0.5 }), 'desired.generation'],
    ['a report endpoint in an unknown state', () => reportToPb({ ...report, endpoints: [{ ...report.endpoints[0]!, state: 'gone' as never }] }), 'report.endpoints[0].state'],
    ['a capability of an unknown kind', () => registerToPb('n1', { ...identity, capabilities: [{ kind: 'ipip' as never, supported: true }] }, [], ''), 'register.capabilities[0].encapsulation'],
    ['a plan query endpoint of an unknown kind', () => planQueryToPb(1, [{ ...ep, kind: 'ipip' as never }]), 'plan.endpoints[0].kind'],
  ])('refuses to send %s', (_what, f, field) => expectRefused(f, IncompatibleStateError, field, /cannot be sent/));
});

describe('topologyToPb (visp\'s own front ends)', () => {
  const model: Topology = {
    nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2', netns: 'x' }],
    links: [
      { id: 'l1', members: [{ node: 'r1', ifname: 'eth5' }, { node: 'r2', ipv4: '192.0.2.9', ipv6: '2001:db8::9' }], encapsulation: 'gretap', addressClass: 'public', mtu: 1400, ipv4: {}, ipv6: { prefixLength: 64 } },
      { id: 'l2', members: [{ node: 'r1' }, { node: 'r2' }, { node: 'r1' }], encapsulation: 'auto', addressClass: 'local', ipv6: {} },
      { id: 'e1', members: [{ node: 'r1' }], encapsulation: 'vxlan', addressClass: 'public', ipv4: {}, egress: { node: 'e', routes: 'full', defaultRoute: false } },
      { id: 'e2', members: [{ node: 'r2' }], encapsulation: 'etherip', addressClass: 'public', ipv4: { prefixLength: 30 }, egress: { node: 'e', routes: 'default', defaultRoute: true } },
    ],
  };

  it('is topologyFromPb\'s inverse, through the wire', () => expect(topologyFromPb(wire('Topology', topologyToPb(model)))).toEqual(model));

  it('names routes by their own name (DEFAULT, not UNSPECIFIED)', () => expect(topologyToPb(model).links![3]!.egress).toEqual({ node: 'e', routes: 'EGRESS_ROUTES_DEFAULT', noDefaultRoute: false }));

  it.each<[string, (t: Topology) => void, string]>([
    ['an unknown kind', (t) => { t.links[1]!.encapsulation = 'geneve' as never; }, 'topology.links[1].encapsulation'],
    ['an unknown class', (t) => { t.links[0]!.addressClass = 'global' as never; }, 'topology.links[0].address_class'],
    ['unknown egress routes', (t) => { t.links[2]!.egress!.routes = 'some' as never; }, 'topology.links[2].egress.routes'],
  ])('refuses to send %s', (_what, edit, field) => {
    const t = structuredClone(model);
    edit(t);
    expectRefused(() => topologyToPb(t), IncompatibleStateError, field, /cannot be sent/);
  });
});

describe('iso', () => {
  it.each([[undefined, ''], [0, '1970-01-01T00:00:00.000Z'], [Date.UTC(2030, 0, 1), '2030-01-01T00:00:00.000Z']])('%s → %j', (t, want) => expect(iso(t)).toBe(want));
  it.each([NaN, Infinity, 9e15, '2030' as never, null as never])('refuses %s', (t) => expectRefused(() => iso(t, 'end_time'), IncompatibleStateError, 'end_time'));
});

describe('manifestToPb', () => {
  const m = (): Manifest => ({
    slice: 's', allocation: 'provisioned', state: 'ready', endTime: Date.UTC(2030, 0, 1), groupId: 4096,
    blocks: [{ addressClass: 'public', prefix: '198.51.100.0/28', pool: 'p' }],
    slivers: [{
      id: 's/l', state: 'ready',
      link: { id: 'l', kind: 'vxlan', key: 7, mtu: 1450, lan: false, addressClass: 'public', ipv4Subnet: '198.51.100.0/31', endpoints: [], stopped: false, restart: 0 },
      endpoints: [{ node: 'r1', physicalNode: 'n1', netns: 'x', ifname: 'eth1', addresses: ['198.51.100.0/31'], underlay: '198.18.0.1', state: 'ready', devices: ['vt1'], remotes: ['198.18.0.2'] }],
    }],
  });

  it('converts a manifest', () => {
    expect(manifestToPb(m())).toMatchObject({
      slice: 's', allocationState: 'ALLOCATION_STATE_PROVISIONED', operationalState: 'OPERATIONAL_STATE_READY', endTime: '2030-01-01T00:00:00.000Z', expires: '',
      blocks: [{ addressClass: 'ADDRESS_CLASS_PUBLIC', prefix: '198.51.100.0/28', pool: 'p' }],
      slivers: [{ id: 's/l', encapsulation: 'ENCAPSULATION_VXLAN', key: 7, ipv6Subnet: '', endpoints: [{ underlayAddress: '198.18.0.1', tunnels: ['vt1'], bridge: '', operationalState: 'OPERATIONAL_STATE_READY' }] }],
    });
  });

  it.each<[string, (x: Manifest) => unknown, string]>([
    ['no manifest', () => null, 'manifest'],
    ['an unknown allocation state', (x) => ({ ...x, allocation: 'shutdown' }), 'allocation_state'],
    ['an unknown state', (x) => ({ ...x, state: 'broken' }), 'operational_state'],
    ['an end time that is not a time', (x) => ({ ...x, endTime: NaN }), 'end_time'],
    ['a string for the group id', (x) => ({ ...x, groupId: '7' }), 'group_id'],
    ['a string for the block list', (x) => ({ ...x, blocks: '198.51.100.0/28' }), 'blocks'],
    ['an unknown block class', (x) => ({ ...x, blocks: [{ ...x.blocks[0]!, addressClass: 'global' }] }), 'blocks[0].address_class'],
    ['a null sliver', (x) => ({ ...x, slivers: [null] }), 'slivers[0]'],
    ['a sliver without its link', (x) => ({ ...x, slivers: [{ ...x.slivers[0]!, link: undefined }] }), 'slivers[0].link'],
    ['an unknown kind', (x) => ({ ...x, slivers: [{ ...x.slivers[0]!, link: { ...x.slivers[0]!.link, kind: 'ipip' } }] }), 'slivers[0].encapsulation'],
    ['an endpoint with an unknown state', (x) => ({ ...x, slivers: [{ ...x.slivers[0]!, endpoints: [{ ...x.slivers[0]!.endpoints[0]!, state: 'gone' }] }] }), 'slivers[0].endpoints[0].operational_state'],
    ['a string for the endpoint devices', (x) => ({ ...x, slivers: [{ ...x.slivers[0]!, endpoints: [{ ...x.slivers[0]!.endpoints[0]!, devices: 'vt1' }] }] }), 'slivers[0].endpoints[0].tunnels'],
  ])('refuses to send %s', (_what, mutate, field) => expectRefused(() => manifestToPb(mutate(m()) as Manifest), IncompatibleStateError, field));
});
