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

  // Every calendar edge, each with a "now" a day before so only the calendar decides.
  const at = (iso: string): number => Date.parse(iso);
  it.each<[string, string, number]>([
    ['the last second of a day', '2030-01-01T23:59:59Z', at('2030-01-01T23:59:59.000Z')],
    ['the last day of a 31-day month', '2030-01-31T12:00:00Z', at('2030-01-31T12:00:00Z')],
    ['the last day of a 30-day month', '2030-04-30T12:00:00Z', at('2030-04-30T12:00:00Z')],
    ['Feb 28 of a common year', '2031-02-28T12:00:00Z', at('2031-02-28T12:00:00Z')],
    ['a leap day', '2032-02-29T12:00:00Z', at('2032-02-29T12:00:00Z')],
    ['a leap day of a year divisible by 400', '2400-02-29T00:00:00Z', at('2400-02-29T00:00:00Z')],
    ['the year\'s last day', '2030-12-31T23:59:59Z', at('2030-12-31T23:59:59Z')],
    ['a positive offset', '2030-06-01T02:00:00+02:00', at('2030-06-01T00:00:00Z')],
    ['a negative offset across midnight', '2030-06-01T20:30:00-05:30', at('2030-06-02T02:00:00Z')],
    ['-00:00 (UTC, local offset unknown)', '2030-06-01T00:00:00-00:00', at('2030-06-01T00:00:00Z')],
    ['the widest offsets', '2030-06-01T00:00:00+23:59', at('2030-05-31T00:01:00Z')],
    ['one fractional digit', '2030-06-01T00:00:00.5Z', at('2030-06-01T00:00:00.500Z')],
    ['milliseconds', '2030-06-01T00:00:00.123Z', at('2030-06-01T00:00:00.123Z')],
    ['a fraction finer than 1 ms is cut, not rounded', '2030-06-01T00:00:00.9999999Z', at('2030-06-01T00:00:00.999Z')],
    ['lower-case t and z (RFC 3339 5.6 note)', '2030-06-01t00:00:00z', at('2030-06-01T00:00:00Z')],
  ])('accepts %s: %s', (_what, text, want) => expect(parseEndTime(text, want - 24 * 3600_000)).toBe(want));

  it.each<[string, string, RegExp]>([
    ['hour 24', '2030-06-01T24:00:00Z', /hour 24 is not 00–23/],
    ['minute 60', '2030-06-01T12:60:00Z', /minute 60 is not 00–59/],
    ['second 61', '2030-06-01T12:00:61Z', /second 61 is not 00–59/],
    ['a leap second', '2030-06-30T23:59:60Z', /second 60 \(a leap second\) is not accepted/],
    ['Feb 30', '2030-02-30T00:00:00Z', /day 30 is not 01–28 \(2030-02 has 28 days\)/],
    ['Feb 29 of a common year', '2031-02-29T00:00:00Z', /day 29 is not 01–28/],
    ['Feb 29 of a century that is not a leap year', '2100-02-29T00:00:00Z', /day 29 is not 01–28/],
    ['April 31', '2030-04-31T00:00:00Z', /day 31 is not 01–30/],
    ['day 00', '2030-06-00T00:00:00Z', /day 00 is not 01–30/],
    ['month 13', '2030-13-01T00:00:00Z', /month 13 is not 01–12/],
    ['month 00', '2030-00-01T00:00:00Z', /month 00 is not 01–12/],
    ['no zone', '2030-06-01T00:00:00', /no time zone/],
    ['no zone, with a fraction', '2030-06-01T00:00:00.5', /no time zone/],
    ['an offset hour of 24', '2030-06-01T00:00:00+24:00', /offset hour 24 is not 00–23/],
    ['an offset minute of 60', '2030-06-01T00:00:00+01:60', /offset minute 60 is not 00–59/],
    ['an offset without a colon', '2030-06-01T00:00:00+0100', /expected YYYY-MM-DDThh:mm:ss/],
    ['an empty fraction', '2030-06-01T00:00:00.Z', /expected YYYY-MM-DDThh:mm:ss/],
    ['a space for T', '2030-06-01 00:00:00Z', /expected YYYY-MM-DDThh:mm:ss/],
    ['no seconds', '2030-06-01T00:00Z', /expected YYYY-MM-DDThh:mm:ss/],
    ['one-digit fields', '2030-6-1T0:0:0Z', /expected YYYY-MM-DDThh:mm:ss/],
    ['trailing text', '2030-06-01T00:00:00Z junk', /expected YYYY-MM-DDThh:mm:ss/],
    ['a number', '1906934400000', /expected YYYY-MM-DDThh:mm:ss/],
  ])('rejects %s: %s', (_what, text, msg) => {
    let err: unknown;
    try { parseEndTime(text, Date.parse('2030-05-25T00:00:00Z')); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect(err).toMatchObject({ field: 'end_time' });
    expect((err as Error).message).toMatch(/^end_time: ".*" is not an RFC 3339 time/);
    expect((err as Error).message).toMatch(msg);
  });
});
