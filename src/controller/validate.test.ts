import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import type { Topology } from './model.js';
import { parseEndTime, validateRequest } from './validate.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const topo = (): Topology => ({
  nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }],
  links: [{ id: 'l1', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'vxlan', addressClass: 'local', ipv4: {} }],
});

describe('validateRequest', () => {
  it('accepts a good request and defaults the end time to one hour', () => {
    expect(validateRequest({ slice: 's1', topology: topo() }, NOW)).toBe(NOW + 3600_000);
  });

  it.each<[string, (t: Topology) => void, string, RegExp]>([
    ['no nodes', (t) => { t.nodes = []; }, 'topology.nodes', /at least one node/],
    ['no links', (t) => { t.links = []; }, 'topology.links', /at least one link/],
    ['bad node id', (t) => { t.nodes[0]!.id = 'r 1'; }, 'topology.nodes[0].id', /must be/],
    ['duplicate node id', (t) => { t.nodes[1]!.id = 'r1'; }, 'topology.nodes[1].id', /duplicate node id "r1"/],
    ['missing physical node', (t) => { t.nodes[0]!.node = ''; }, 'topology.nodes[0].node', /required/],
    ['bad netns', (t) => { t.nodes[0]!.netns = '../x'; }, 'topology.nodes[0].netns', /not a namespace name/],
    ['duplicate netns', (t) => { t.nodes[0]!.netns = 'x'; t.nodes[1]!.netns = 'x'; }, 'topology.nodes[1].netns', /already used by node "r1"/],
    ['bad link id', (t) => { t.links[0]!.id = '-l'; }, 'topology.links[0].id', /must be/],
    ['duplicate link id', (t) => { t.links.push({ ...t.links[0]!, members: [{ node: 'r2' }, { node: 'r3' }] }); }, 'topology.links[1].id', /duplicate link id/],
    ['one member', (t) => { t.links[0]!.members.pop(); }, 'topology.links[0].members', /at least 2 members, has 1/],
    ['unknown member node', (t) => { t.links[0]!.members[1]!.node = 'r9'; }, 'topology.links[0].members[1].node', /unknown node "r9"/],
    ['member twice', (t) => { t.links[0]!.members[1]!.node = 'r1'; }, 'topology.links[0].members[1].node', /member twice/],
    ['ifname too long', (t) => { t.links[0]!.members[0]!.ifname = 'a-very-long-ifname'; }, 'topology.links[0].members[0].ifname', /at most 15/],
    ['ifname lo', (t) => { t.links[0]!.members[0]!.ifname = 'lo'; }, 'topology.links[0].members[0].ifname', /loopback/],
    ['ifname reused', (t) => {
      t.links[0]!.members[0]!.ifname = 'eth5';
      t.links.push({ id: 'l2', members: [{ node: 'r1', ifname: 'eth5' }, { node: 'r3' }], encapsulation: 'vxlan', addressClass: 'local', ipv4: {} });
    }, 'topology.links[1].members[0].ifname', /already used by link "l1"/],
    ['gre LAN', (t) => { t.links[0]!.encapsulation = 'gre'; t.links[0]!.members.push({ node: 'r3' }); }, 'topology.links[0].encapsulation', /point-to-point only/],
    ['mtu too small', (t) => { t.links[0]!.mtu = 500; }, 'topology.links[0].mtu', /576–9000/],
    ['v4 prefix /32', (t) => { t.links[0]!.ipv4 = { prefixLength: 32 }; }, 'topology.links[0].ipv4.prefix_length', /outside/],
    ['v6 prefix /128', (t) => { t.links[0]!.ipv6 = { prefixLength: 128 }; }, 'topology.links[0].ipv6.prefix_length', /outside/],
    ['no addressing', (t) => { delete t.links[0]!.ipv4; }, 'topology.links[0]', /neither ipv4 nor ipv6/],
    ['explicit v4 malformed', (t) => { t.links[0]!.members[0]!.ipv4 = '192.0.2.1/31'; }, 'topology.links[0].members[0].ipv4', /not an IPv4 address/],
    ['explicit v6 without v6 addressing', (t) => { t.links[0]!.members[0]!.ipv6 = '2001:db8::1'; }, 'topology.links[0].members[0].ipv6', /no IPv6 addressing/],
  ])('%s', (_name, mutate, field, msg) => {
    const t = topo();
    mutate(t);
    let err: unknown;
    try { validateRequest({ slice: 's1', topology: t }, NOW); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect(err).toMatchObject({ field });
    expect((err as Error).message).toMatch(msg);
  });

  it.each([
    ['', 'slice', /required/],
    ['has space', 'slice', /must be/],
  ])('slice %j', (slice, field, msg) => {
    expect(() => validateRequest({ slice, topology: topo() }, NOW)).toThrow(msg);
    try { validateRequest({ slice, topology: topo() }, NOW); } catch (e) { expect(e).toMatchObject({ field }); }
  });
});

describe('parseEndTime', () => {
  it.each([
    ['2030-01-01T01:00:00Z', NOW + 3600_000],
    ['2030-01-01T02:00:00+01:00', NOW + 3600_000],
    ['2030-01-01T00:00:01.5Z', NOW + 1500],
  ])('%s', (t, want) => expect(parseEndTime(t, NOW)).toBe(want));

  it.each([
    ['tomorrow', /not an RFC 3339 time/],
    ['2030-01-01', /not an RFC 3339 time/],
    ['2029-12-31T23:59:59Z', /in the past/],
    ['2030-03-01T00:00:00Z', /more than 30 days/],
  ])('rejects %s', (t, msg) => expect(() => parseEndTime(t, NOW)).toThrow(msg));
});
