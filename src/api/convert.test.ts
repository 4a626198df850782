// Every converter of convert.ts against what it should convert and against
// garbage (numbers where enums or strings belong, unknown strings, missing or
// mistyped nested messages): garbage is refused with a VispError naming the
// field (InvalidSpecError from a message, IncompatibleStateError into one),
// never a TypeError or a bare Error.
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import { expectRefused } from '../../test/helpers/refused.js';
import type { Manifest } from '../controller/model.js';
import type { DesiredEndpoint } from '../controller/desired.js';
import {
  actionFromPb, allocationToPb, capabilityFromPb, capabilityToPb, classToPb, encapFromPb, encapToPb, endpointFromPb, endpointToPb, kindFromPb,
  manifestToPb, stateFromPb, stateToPb, topologyFromPb,
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
    ['state as an unknown number (ListTunnels)', () => stateFromPb(99), 'state', /^state: unknown operational state value 99 \(expected one of OPERATIONAL_STATE_UNSPECIFIED, .*OPERATIONAL_STATE_STOPPED\)$/],
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
