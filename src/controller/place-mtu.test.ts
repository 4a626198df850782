// Link MTUs from the nodes' underlay MTUs (issue 12, "Path MTU"): the default
// is the smallest member underlay MTU minus the kind's overhead over that
// family; a request above it is refused naming the field and the figures.
import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import type { NodeRecord, Topology } from './model.js';
import { checkUnderlayMtus, placeLinks, type PlacementNode } from './place.js';
import type { TunnelKind } from '../tunnel/types.js';

const KINDS: TunnelKind[] = ['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'etherip'];
const node = (name: string, underlay: string[], mtu?: Record<string, number>): PlacementNode => ({
  name, underlay, lastSeen: 0, capabilities: KINDS.map((kind) => ({ kind, supported: true })), ...(mtu ? { underlayMtu: mtu } : {}),
});
const nodes = new Map<string, PlacementNode>([
  ['n1', node('n1', ['198.18.0.1', '2001:db8:ff::1'], { '198.18.0.1': 1400, '2001:db8:ff::1': 1400 })],
  ['n2', node('n2', ['198.18.0.2', '2001:db8:ff::2'], { '198.18.0.2': 9000, '2001:db8:ff::2': 1450 })],
  ['old', node('old', ['198.18.0.3'])],   // an agent that reported nothing: 1500
]);
const t = (links: Topology['links']): Topology => ({ nodes: [{ id: 'a', node: 'n1' }, { id: 'b', node: 'n2' }, { id: 'c', node: 'old' }], links });
const link = (kind: Topology['links'][number]['encapsulation'], members = ['a', 'b'], extra = {}): Topology['links'][number] =>
  ({ id: 'l', members: members.map((n) => ({ node: n })), encapsulation: kind, addressClass: 'local', ipv4: {}, ...extra });
const maxOf = (l: Topology['links'][number]): number[] => placeLinks('s', t([l]), nodes, () => true)[0]!.maxMtu;

describe('link MTU from the members\' underlay MTUs', () => {
  it.each([
    ['vxlan', ['a', 'b'], [1400 - 50, 1400 - 70]],          // IPv4 first, then IPv6 (auto's way list is per kind and family)
    ['etherip', ['a', 'b'], [1400 - 36, 1400 - 56]],
    ['gretap', ['a', 'b'], [1400 - 42]],                     // gretap is IPv4 only; keyed: nothing after it
    ['gre', ['a', 'b'], [1400 - 28]],
    ['ip6gretap', ['a', 'b'], [1400 - 62]],
    ['gretap', ['b', 'c'], [1500 - 42]],                     // 9000 and an unreported 1500: 1500
  ] as const)('%s between %j: %j', (kind, members, want) => {
    const enc = kind === 'vxlan' ? 'vxlan' : kind;
    expect(maxOf(link(enc as TunnelKind, [...members]))).toEqual(want.slice(0, kind === 'vxlan' ? 1 : want.length));
  });

  it('refuses an MTU the path cannot carry, naming the field, the node, its underlay MTU and the overhead', () => {
    let e: unknown;
    try { placeLinks('s', t([link('etherip', ['a', 'b'], { mtu: 1400 })]), nodes, () => true); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect((e as InvalidSpecError).field).toBe('topology.links[0].mtu');
    expect((e as Error).message).toBe('topology.links[0].mtu: 1400 does not fit: etherip over IPv4 leaves at most 1364 (the underlay MTU 1400 of node n1 at 198.18.0.1 minus 36)');
    // Exactly what fits is taken.
    expect(placeLinks('s', t([link('etherip', ['a', 'b'], { mtu: 1364 })]), nodes, () => true)[0]!.ways[0]!.kind).toBe('etherip');
  });

  it('an auto link skips the ways a requested MTU does not fit (vxlan over IPv4 leaves 1350; gretap 1358)', () => {
    const p = placeLinks('s', t([link('auto', ['a', 'b'], { mtu: 1355 })]), nodes, () => true)[0]!;
    expect(p.ways.map((w) => `${w.kind}/${w.family}`)).toEqual(['gretap/4']);
    expect(p.maxMtu).toEqual([1358]);
  });

  it('checks what an agent reports', () => {
    expect(checkUnderlayMtus(['198.18.0.1'], { '198.18.0.1': 1400 })).toEqual({ underlayMtu: { '198.18.0.1': 1400 } });
    expect(checkUnderlayMtus(['198.18.0.1'], undefined)).toEqual({});
    expect(checkUnderlayMtus(['198.18.0.1'], {})).toEqual({});
    expect(() => checkUnderlayMtus(['198.18.0.1'], { '198.18.0.9': 1400 })).toThrow('register.underlay_mtus["198.18.0.9"]: 198.18.0.9 is not one of the underlay addresses offered (198.18.0.1)');
    expect(() => checkUnderlayMtus(['198.18.0.1'], { '198.18.0.1': 100 })).toThrow('is not an MTU from 576 to 65535');
  });
});
