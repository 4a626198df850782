import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { resolveEndpoint, type EndpointSpec } from './spec.js';

const base: EndpointSpec = {
  slice: 's1', link: 'l1', group: 1001, kind: 'vxlan', key: 4711, local: '198.18.0.1', remotes: ['198.18.0.2'],
  netns: 'exp', ifname: 'eth1', addresses: ['192.0.2.0/31'],
};

describe('resolveEndpoint: valid specs', () => {
  it('p2p vxlan: one device with a remote, no FDB, no isolation, MTU 1450', () => {
    const r = resolveEndpoint(base);
    expect(r.tunnels).toEqual([expect.objectContaining({ kind: 'vxlan', remote: '198.18.0.2', key: 4711 })]);
    expect(r.fdb).toEqual([]);
    expect(r.isolate).toBe(false);
    expect(r.mtu).toBe(1450);
  });

  it('vxlan LAN: one device without remote, one flood entry per member', () => {
    const r = resolveEndpoint({ ...base, remotes: ['198.18.0.2', '198.18.0.3'] });
    expect(r.tunnels).toHaveLength(1);
    expect(r.tunnels[0]!.remote).toBeUndefined();
    expect(r.fdb).toEqual(['198.18.0.2', '198.18.0.3']);
  });

  it('gretap LAN: one tunnel per member, isolated ports (split horizon)', () => {
    const r = resolveEndpoint({ ...base, kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3'] });
    expect(r.tunnels.map((t) => t.remote)).toEqual(['198.18.0.2', '198.18.0.3']);
    expect(new Set(r.tunnels.map((t) => t.name)).size).toBe(2);
    expect(r.isolate).toBe(true);
    expect(r.mtu).toBe(1458);
  });

  it.each([
    ['vxlan', '198.18.0.1', '198.18.0.2', 1450],
    ['vxlan', '2001:db8:ff::1', '2001:db8:ff::2', 1430],
    ['gretap', '198.18.0.1', '198.18.0.2', 1458],
    ['ip6gretap', '2001:db8:ff::1', '2001:db8:ff::2', 1438],
    ['gre', '198.18.0.1', '198.18.0.2', 1472],
    ['ip6gre', '2001:db8:ff::1', '2001:db8:ff::2', 1452],
    ['etherip', '198.18.0.1', '198.18.0.2', 1464],
  ] as const)('default MTU of %s over %s is %i', (kind, local, remote, mtu) => {
    // EtherIP has no key: it demultiplexes by remote address.
    expect(resolveEndpoint({ ...base, kind, local, remotes: [remote], addresses: [], key: kind === 'etherip' ? 0 : 4711 }).mtu).toBe(mtu);
  });

  it('canonicalizes addresses', () => {
    expect(resolveEndpoint({ ...base, addresses: ['2001:DB8:0::1/127'] }).addresses).toEqual(['2001:db8::1/127']);
  });
});

describe('resolveEndpoint: bad specs name the field and the reason', () => {
  it.each<[string, Partial<EndpointSpec>, string, RegExp]>([
    ['slice id', { slice: 'a b' }, 'slice', /must be/],
    ['link id', { link: '' }, 'link', /must be/],
    ['group 0', { group: 0 }, 'group', /not a link group/],
    ['unknown kind', { kind: 'ipip' as never }, 'kind', /not one of/],
    ['local not an IP', { local: 'node-a' }, 'local', /not an IP/],
    ['gretap over IPv6', { kind: 'gretap', local: '2001:db8::1', remotes: ['2001:db8::2'] }, 'local', /runs over IPv4/],
    ['no remotes', { remotes: [] }, 'remotes', /at least one/],
    ['mixed families', { remotes: ['2001:db8::2'] }, 'remotes[0]', /not an IPv4/],
    ['remote is local', { remotes: ['198.18.0.1'] }, 'remotes[0]', /own address/],
    ['duplicate remote', { remotes: ['198.18.0.2', '198.18.0.2'] }, 'remotes', /twice/],
    ['gre LAN', { kind: 'gre', remotes: ['198.18.0.2', '198.18.0.3'] }, 'kind', /point-to-point only/],
    ['VNI too large', { key: 1 << 24 }, 'key', /out of range/],
    ['VNI 0', { key: 0 }, 'key', /out of range/],
    ['GRE key negative', { kind: 'gretap', key: -1 }, 'key', /out of range/],
    ['port on gre', { kind: 'gretap', dstPort: 4789 }, 'dstPort', /only vxlan/],
    ['bad port', { dstPort: 70000 }, 'dstPort', /not a UDP port/],
    ['netns path', { netns: '../etc' }, 'netns', /not a namespace/],
    ['long ifname', { ifname: 'experiment-eth-1' }, 'ifname', /at most 15/],
    ['bad address', { addresses: ['192.0.2.1'] }, 'addresses[0]', /not address\/prefix/],
    ['MTU too big', { mtu: 1451 }, 'mtu', /at most 1450/],
    ['MTU too small for IPv6', { mtu: 1200, addresses: ['2001:db8::1/64'] }, 'mtu', /1280/],
  ])('%s', (_name, patch, field, msg) => {
    let err: unknown;
    try { resolveEndpoint({ ...base, ...patch }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect((err as InvalidSpecError).field).toBe(field);
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message.startsWith(`${field}: `)).toBe(true);
  });
});
