import { describe, expect, it } from 'vitest';
import type { NodeRecord, Topology } from './model.js';
import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError, PoolExhaustedError } from '../errors.js';
import { inTopologyTerms, ipamRequest, placeLinks } from './place.js';
import type { TunnelKind } from '../tunnel/types.js';

const node = (name: string, underlay: string[], kinds: TunnelKind[]): NodeRecord => ({
  name, underlay, lastSeen: 0,
  capabilities: (['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'etherip'] as TunnelKind[]).map((k) => ({ kind: k, supported: kinds.includes(k), ...(kinds.includes(k) ? {} : { reason: `kernel module for ${k} missing` }) })),
});
const nodes = new Map([
  ['n1', node('n1', ['198.18.0.1', '2001:db8:ffff::1'], ['vxlan', 'gretap', 'gre', 'ip6gretap'])],
  ['n2', node('n2', ['198.18.0.2', '2001:db8:ffff::2'], ['vxlan', 'gretap', 'gre', 'ip6gretap'])],
  ['n3', node('n3', ['2001:db8:ffff::3'], ['vxlan'])],
  ['n4', node('n4', ['198.18.0.4'], ['gretap'])],
]);
const all = (): boolean => true;
const t = (links: Topology['links'], extra: Topology['nodes'] = []): Topology => ({
  nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }, { id: 'r4', node: 'n4' }, ...extra], links,
});
const link = (id: string, members: string[], encapsulation: Topology['links'][number]['encapsulation'] = 'auto', extra = {}): Topology['links'][number] =>
  ({ id, members: members.map((node) => ({ node })), encapsulation, addressClass: 'local', ipv4: {}, ...extra });

describe('placeLinks', () => {
  it('auto prefers vxlan, then gretap, and picks the underlay family every member has', () => {
    const p = placeLinks('s', t([link('a', ['r1', 'r2']), link('b', ['r1', 'r4']), link('c', ['r1', 'r3'])]), nodes, all);
    expect(p.map((x) => [x.kind, x.family])).toEqual([['vxlan', 4], ['gretap', 4], ['vxlan', 6]]);
    expect(p[2]!.members.map((m) => m.underlay)).toEqual(['2001:db8:ffff::1', '2001:db8:ffff::3']);
  });

  it('names namespaces and interfaces: visp-<slice>-<node>, eth1, eth2… skipping names taken explicitly', () => {
    const p = placeLinks('s9', t([link('a', ['r1', 'r2']), { ...link('b', ['r1', 'r4']), members: [{ node: 'r1', ifname: 'eth2' }, { node: 'r4' }] }, link('c', ['r1', 'r2'], 'vxlan')]), nodes, all);
    expect(p.map((x) => x.members.map((m) => `${m.netns}:${m.ifname}`))).toEqual([
      ['visp-s9-r1:eth1', 'visp-s9-r2:eth1'], ['visp-s9-r1:eth2', 'visp-s9-r4:eth1'], ['visp-s9-r1:eth3', 'visp-s9-r2:eth2'],
    ]);
  });

  it.each<[string, Topology, RegExp, string]>([
    ['unknown physical node', { nodes: [{ id: 'r1', node: 'n9' }], links: [] }, /unknown physical node "n9"/, 'topology.nodes[0].node'],
    ['kind a connected member lacks', t([link('a', ['r1', 'r3'], 'gretap')]), /gretap is not available on node n3: kernel module for gretap missing/, 'topology.links[0].encapsulation'],
    ['no common kind', t([link('a', ['r3', 'r4'])]), /no encapsulation is available/, 'topology.links[0].encapsulation'],
    ['no underlay of the family', t([link('a', ['r1', 'r4'], 'ip6gretap')]), /ip6gretap is not available on node n4/, 'topology.links[0].encapsulation'],
    ['MTU too big for the kind', t([link('a', ['r1', 'r2'], 'vxlan', { mtu: 1451 })]), /1451 does not fit: vxlan over IPv4 leaves at most 1450/, 'topology.links[0].mtu'],
    ['two members on one physical node', t([link('a', ['r1', 'r5'], 'vxlan')], [{ id: 'r5', node: 'n1' }]), /same physical node \(n1\)/, 'topology.links[0].members[1].node'],
  ])('refuses: %s', (_n, topo, msg, field) => {
    let err: unknown;
    try { placeLinks('s', topo, nodes, all); } catch (e) { err = e; }
    expect((err as Error)?.message).toMatch(msg);
    expect(err).toMatchObject({ field });
  });

  it('a kind is only checked against connected nodes; auto needs them all connected', () => {
    const offline = (n: string): boolean => n !== 'n3';
    expect(placeLinks('s', t([link('a', ['r1', 'r3'], 'vxlan')]), nodes, offline)[0]!.kind).toBe('vxlan');
    expect(() => placeLinks('s', t([link('a', ['r1', 'r3'])]), nodes, offline)).toThrow(/node n3 is not connected/);
  });
});

describe('ipamRequest', () => {
  it('maps links to IPAM link specs: shape, interfaces, families, identifiers', () => {
    const topo = t([
      link('p2p', ['r1', 'r2'], 'vxlan', { ipv6: { prefixLength: 64 } }),
      { ...link('lan', ['r1', 'r2', 'r4'], 'gretap'), members: [{ node: 'r1', ipv4: '192.0.2.77' }, { node: 'r2' }, { node: 'r4' }] },
    ]);
    const req = ipamRequest('s', placeLinks('s', topo, nodes, all));
    expect(req.links).toEqual([
      { name: 'p2p', shape: 'p2p', interfaces: [{ name: 'r1:eth1' }, { name: 'r2:eth1' }], ipv4: { class: 'local' }, ipv6: { class: 'local', prefixLength: 64 }, identifier: 'vni' },
      { name: 'lan', shape: 'lan', interfaces: [{ name: 'r1:eth2', ipv4: '192.0.2.77' }, { name: 'r2:eth2' }, { name: 'r4:eth1' }], ipv4: { class: 'local' }, identifier: 'greKey' },
    ]);
  });
});

describe('inTopologyTerms', () => {
  it.each<[string, Error, string, string, string]>([
    ['member address', new InvalidSpecError('links[1].interfaces[2].ipv4: 192.0.2.10 is already requested by links[1].interfaces[0].ipv4', { field: 'links[1].interfaces[2].ipv4' }),
      'InvalidSpecError', 'topology.links[1].members[2].ipv4', 'topology.links[1].members[2].ipv4: 192.0.2.10 is already requested by links[1].interfaces[0].ipv4'],
    ['prefix length', new InvalidSpecError('links[0].ipv6.prefixLength: a /127 cannot hold a LAN of 3 members', { field: 'links[0].ipv6.prefixLength' }),
      'InvalidSpecError', 'topology.links[0].ipv6.prefix_length', 'topology.links[0].ipv6.prefix_length: a /127 cannot hold a LAN of 3 members'],
    ['a message without its field', new PoolExhaustedError('pool "p": exhausted: asked for a /24 block', { field: 'links[3].ipv4' }),
      'PoolExhaustedError', 'topology.links[3].ipv4', 'topology.links[3].ipv4: pool "p": exhausted: asked for a /24 block'],
    ['all links', new PoolExhaustedError('vni range 1-9: exhausted', { field: 'links' }), 'PoolExhaustedError', 'topology.links', 'topology.links: vni range 1-9: exhausted'],
    ['taken', new AlreadyExistsError('links[0].ipv4: 192.0.2.8/31 overlaps 192.0.2.0/27', { field: 'links[0].ipv4' }), 'AlreadyExistsError', 'topology.links[0].ipv4', 'topology.links[0].ipv4: 192.0.2.8/31 overlaps 192.0.2.0/27'],
  ])('%s', (_n, e, cls, field, message) => {
    const out = inTopologyTerms(e) as Error & { field: string; code: string };
    expect(out.constructor.name).toBe(cls);
    expect(out).toMatchObject({ field, message, code: (e as InvalidSpecError).code, cause: e });
  });

  it('keeps when a refusal that lasts frees (freesAt, retryAfterMs)', () => {
    const e = new IncompatibleStateError('links[2].ipv4: 192.0.2.0/31 overlaps 192.0.2.0/28, cooling down until …', { field: 'links[2].ipv4', freesAt: 1234, retryAfterMs: 56 });
    expect(inTopologyTerms(e)).toMatchObject({ field: 'topology.links[2].ipv4', freesAt: 1234, retryAfterMs: 56, code: 'VISP_INCOMPATIBLE_STATE' });
  });

  it('leaves other errors alone', () => {
    const other = new InvalidSpecError('groupId: exhausted', { field: 'groupId' });
    expect(inTopologyTerms(other)).toBe(other);
    const plain = new Error('boom');
    expect(inTopologyTerms(plain)).toBe(plain);
  });
});
