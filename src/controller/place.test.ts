import { describe, expect, it } from 'vitest';
import { rig, type Rig } from '../../test/ipam/support.js';
import type { LinkRecord, NodeRecord, Topology } from './model.js';
import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError, PoolExhaustedError, VispError } from '../errors.js';
import { inTopologyTerms, ipamRequest, linkRecords, placeLinks } from './place.js';
import { drivers } from '../tunnel/registry.js';
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
    // One way each: a kind with a key or VNI never finds its way taken, so nothing follows it.
    expect(p.map((x) => x.ways.map((w) => [w.kind, w.family]))).toEqual([[['vxlan', 4]], [['gretap', 4]], [['vxlan', 6]]]);
    expect(p[2]!.ways[0]!.underlays).toEqual(['2001:db8:ffff::1', '2001:db8:ffff::3']);
  });

  it('names namespaces and interfaces: visp-<slice>:<node>, eth1, eth2… skipping names taken explicitly', () => {
    const p = placeLinks('s9', t([link('a', ['r1', 'r2']), { ...link('b', ['r1', 'r4']), members: [{ node: 'r1', ifname: 'eth2' }, { node: 'r4' }] }, link('c', ['r1', 'r2'], 'vxlan')]), nodes, all);
    expect(p.map((x) => x.members.map((m) => `${m.netns}:${m.ifname}`))).toEqual([
      ['visp-s9:r1:eth1', 'visp-s9:r2:eth1'], ['visp-s9:r1:eth2', 'visp-s9:r4:eth1'], ['visp-s9:r1:eth3', 'visp-s9:r2:eth2'],
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
    expect(placeLinks('s', t([link('a', ['r1', 'r3'], 'vxlan')]), nodes, offline)[0]!.ways[0]!.kind).toBe('vxlan');
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

// EtherIP has no key: the underlay address pair is its identity (the driver
// says so). Placement offers every way to carry a link, the allocator takes
// the first whose pair is free, exactly as Allocate and Plan do.
describe('EtherIP: one link per underlay address pair', () => {
  const eipNodes = new Map([
    ['e1', node('e1', ['198.18.0.1', '2001:db8:ffff::1'], ['etherip'])],
    ['e2', node('e2', ['198.18.0.2', '2001:db8:ffff::2'], ['etherip'])],
    ['e3', node('e3', ['198.18.0.3'], ['etherip', 'vxlan'])],
    ['e4', node('e4', ['198.18.0.4'], ['etherip', 'vxlan'])],
    ['n1', nodes.get('n1')!],
    ['n2', nodes.get('n2')!],
  ]);
  const topo = (links: Topology['links']): Topology => ({
    nodes: [{ id: 'r1', node: 'e1' }, { id: 'r2', node: 'e2' }, { id: 'r3', node: 'e3' }, { id: 'r4', node: 'e4' }, { id: 'r5', node: 'n1' }, { id: 'r6', node: 'n2' }], links,
  });
  const eip = (id: string, members: string[], enc: Topology['links'][number]['encapsulation'] = 'etherip', extra = {}): Topology['links'][number] => link(id, members, enc, extra);
  /** Allocate as the controller does: place, ask the IPAM, errors in the request's terms, link records. */
  const allocate = async (ipam: Rig['ipam'], slice: string, links: Topology['links']): Promise<LinkRecord[]> => {
    const placed = placeLinks(slice, topo(links), eipNodes, all);
    const a = await ipam.allocate(ipamRequest(slice, placed)).catch((e: unknown) => { throw inTopologyTerms(e); });
    return linkRecords(placed, a);
  };
  const wayOf = (l: LinkRecord): string => `${l.kind} ${l.endpoints.map((e) => e.underlay).join(' ')}`;
  const refusal = async (p: Promise<unknown>): Promise<VispError> => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(VispError);
    return err as VispError;
  };

  it('the driver declares the identifier; placement lists the ways: etherip over IPv4 then IPv6; auto only reaches etherip when nothing else is there', () => {
    // (Kinds registered later are checked by src/tunnel/conformance.test.ts; these six are named.)
    expect(Object.fromEntries((['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'etherip'] as const).map((k) => [k, drivers[k].identifier]))).toEqual({
      vxlan: 'vni', gre: 'greKey', gretap: 'greKey', ip6gre: 'greKey', ip6gretap: 'greKey', etherip: 'underlayPair',
    });
    const p = placeLinks('s', topo([eip('a', ['r1', 'r2']), eip('b', ['r1', 'r2'], 'auto'), eip('c', ['r3', 'r4']), eip('d', ['r3', 'r4'], 'auto'), eip('e', ['r1', 'r2'], 'etherip', { mtu: 1450 })]), eipNodes, all);
    expect(p.map((x) => x.ways.map((w) => `${w.kind}/${w.family}`))).toEqual([
      ['etherip/4', 'etherip/6'], ['etherip/4', 'etherip/6'], ['etherip/4'], ['vxlan/4'],
      ['etherip/4'], // etherip over IPv6 leaves 1444: an MTU of 1450 does not fit it
    ]);
  });

  it('the IPAM request: one way as it is, several as choices; a LAN holds every pair of its members', () => {
    const lan = eip('lan', ['r1', 'r2', 'r3']);
    const req = ipamRequest('s', placeLinks('s', topo([eip('a', ['r1', 'r2']), eip('b', ['r3', 'r4']), lan]), eipNodes, all));
    expect(req.links.map((l) => ({ pairs: l.pairs, choices: l.choices, identifier: l.identifier }))).toEqual([
      { choices: [{ pairs: { space: 'etherip', pairs: [['198.18.0.1', '198.18.0.2']] } }, { pairs: { space: 'etherip', pairs: [['2001:db8:ffff::1', '2001:db8:ffff::2']] } }] },
      { pairs: { space: 'etherip', pairs: [['198.18.0.3', '198.18.0.4']] } },
      { pairs: { space: 'etherip', pairs: [['198.18.0.1', '198.18.0.2'], ['198.18.0.1', '198.18.0.3'], ['198.18.0.2', '198.18.0.3']] } },
    ].map((x) => ({ identifier: undefined, pairs: undefined, choices: undefined, ...x })));
  });

  it.each<[string, Array<[string, Topology['links']]>, string[] | [string, string, string]]>([
    ['a second link on the pair takes the other underlay address', [['s1', [eip('a', ['r1', 'r2'])]], ['s2', [eip('a', ['r2', 'r1'])]]],
      ['etherip 198.18.0.1 198.18.0.2', 'etherip 2001:db8:ffff::2 2001:db8:ffff::1']],
    ['within one slice too', [['s1', [eip('a', ['r1', 'r2']), eip('b', ['r1', 'r2'])]]], ['etherip 198.18.0.1 198.18.0.2', 'etherip 2001:db8:ffff::1 2001:db8:ffff::2']],
    ['auto, where etherip is all there is, falls back the same way', [['s1', [eip('a', ['r1', 'r2'])]], ['s2', [eip('a', ['r1', 'r2'], 'auto')]]],
      ['etherip 198.18.0.1 198.18.0.2', 'etherip 2001:db8:ffff::1 2001:db8:ffff::2']],
    ['other pairs and keyed kinds on the same nodes are not affected', [['s1', [eip('a', ['r3', 'r4']), eip('b', ['r3', 'r4'], 'vxlan')]], ['s2', [eip('a', ['r3', 'r4'], 'auto'), eip('b', ['r1', 'r3'])]]],
      ['etherip 198.18.0.3 198.18.0.4', 'vxlan 198.18.0.3 198.18.0.4', 'vxlan 198.18.0.3 198.18.0.4', 'etherip 198.18.0.1 198.18.0.3']],
    ['the pair held by another slice: FAILED_PRECONDITION on the encapsulation, the holder not named', [['holder', [eip('a', ['r3', 'r4'])]], ['s2', [eip('x', ['r5', 'r6'], 'vxlan'), eip('y', ['r4', 'r3'])]]],
      ['VISP_INCOMPATIBLE_STATE', 'topology.links[1].encapsulation', 'topology.links[1].encapsulation: etherip between 198.18.0.3 and 198.18.0.4 is taken by another slice']],
    ['both addresses of a dual-stack pair held', [['s1', [eip('a', ['r1', 'r2']), eip('b', ['r1', 'r2'])]], ['s2', [eip('c', ['r1', 'r2'])]]],
      ['VISP_INCOMPATIBLE_STATE', 'topology.links[0].encapsulation', 'topology.links[0].encapsulation: etherip between 198.18.0.1 and 198.18.0.2 is taken by another slice; etherip between 2001:db8:ffff::1 and 2001:db8:ffff::2 is taken by another slice']],
    ['two links of one slice on a single-address pair: INVALID_ARGUMENT naming the link', [['s1', [eip('x', ['r3', 'r4']), eip('y', ['r4', 'r3'])]]],
      ['VISP_INVALID_SPEC', 'topology.links[1].encapsulation', 'topology.links[1].encapsulation: etherip between 198.18.0.3 and 198.18.0.4 is already used by link "x" of this slice']],
    ['a LAN on a held pair', [['s1', [eip('a', ['r1', 'r3'])]], ['s2', [eip('lan', ['r2', 'r3', 'r1'])]]],
      ['VISP_INCOMPATIBLE_STATE', 'topology.links[0].encapsulation', 'topology.links[0].encapsulation: etherip between 198.18.0.1 and 198.18.0.3 is taken by another slice']],
  ])('%s', async (_what, slices, want) => {
    const { ipam } = await rig();
    const got: string[] = [];
    let err: VispError | undefined;
    for (const [slice, links] of slices) {
      try { got.push(...(await allocate(ipam, slice, links)).map(wayOf)); } catch (e) { err = await refusal(Promise.reject(e)); }
    }
    if (want[0]?.startsWith('VISP_')) {
      expect(err, 'expected a refusal').toBeDefined();
      expect({ code: err!.code, field: err!.field, message: err!.message }).toEqual({ code: want[0], field: want[1], message: want[2] });
      expect(err!.message).not.toContain('holder');
    } else {
      expect(err).toBeUndefined();
      expect(got).toEqual(want);
    }
  });

  it('a released pair cools down: refused saying when it frees, while auto on keyed nodes is unaffected', async () => {
    const { ipam, clock } = await rig();
    await allocate(ipam, 'a', [eip('x', ['r3', 'r4'])]);
    await ipam.release('a');
    clock.advance(60_000);
    const err = await refusal(allocate(ipam, 'b', [eip('x', ['r3', 'r4'])]));
    expect(err).toMatchObject({ code: 'VISP_INCOMPATIBLE_STATE', field: 'topology.links[0].encapsulation', retryAfterMs: 9 * 60_000 });
    expect(err.message).toMatch(/is cooling down until 2030-01-01T00:10:00.000Z \(frees in 9 min\)/);
    expect((await allocate(ipam, 'c', [eip('x', ['r3', 'r4'], 'auto')])).map(wayOf)).toEqual(['vxlan 198.18.0.3 198.18.0.4']);
  });
});
