// The egress node's data path against a real kernel and real daemons:
// SliceTables (per-slice routing tables + policy rules) fed by GoBGP's
// best-path watch, with a BIRD 2 provider announcing a default route and a
// host prefix. What we check is what the kernel does (iproute2 reads the
// tables and rules; ping crosses them), not what our code believes.
//
//   sliceA ns ── 198.18.50.0/30, 2001:db8:1000:1::/64 ── sa0 ┐
//   (203.0.113.10, 2001:db8:1000::10,                     │ egress ns (gobgpd AS 64500)   up0 ── 198.18.1.0/30,   ── provider ns (BIRD 2, AS 64501)
//    198.51.100.10 = outside the block)                   │ main: default via up9 (dead)      2001:db8:ff01::/64     host 192.0.2.1, 2001:db8:ffff::1
//   sliceB ns ── 203.0.113.128/31 ─────────────────── sb0 ┘                                                         announces default + host prefixes
//   (203.0.113.130)
//
// As visp allocates them, an egress link's addresses come out of the slice's
// block: B's link (IPv4) and A's (IPv6) are inside their blocks, so the
// slice's next hop is behind the slice's own rules; A's IPv4 link is not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressNode } from '../../src/bgp/egress-node.js';
import type { EgressSpec } from '../../src/bgp/reconcile.js';
import { SliceTables, type SliceTableSpec } from '../../src/bgp/slice-tables.js';
import { watchProviderRoutes, type ProviderRouteWatch } from '../../src/bgp/watch.js';
import { InvalidSpecError } from '../../src/errors.js';
import { execIn, ipIn, makeNetns } from '../helpers/netns.js';
import { Bird, BIRD_TEMPLATE, bgpSkipReason, sleep, vethBetween, waitFor } from './fixtures.js';

const TA = 5001, TB = 5002;
const SLICE_A: SliceTableSpec = {
  slice: 'alpha', table: TA, blocks: ['203.0.113.0/25', '2001:db8:1000::/48'],
  nextHops: [{ address: '198.18.50.2', dev: 'sa0' }, { family: 'ipv6', address: '2001:db8:1000:1::2', dev: 'sa0' }], routes: 'full',
};
const SLICE_B: SliceTableSpec = {
  slice: 'beta', table: TB, blocks: ['203.0.113.128/25'], nextHops: [{ address: '203.0.113.129', dev: 'sb0' }], routes: 'default',
};

const birdConfig = `router id 198.18.1.2;
log stderr all;
protocol device {}
protocol static def4 { ipv4; route 0.0.0.0/0 blackhole; }
protocol static def6 { ipv6; route ::/0 blackhole; }
protocol static host4 { ipv4; route 192.0.2.1/32 blackhole; }
protocol static host6 { ipv6; route 2001:db8:ffff::1/128 blackhole; }
# What we announce goes into the provider's kernel, so replies find their way back.
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; }
${BIRD_TEMPLATE(64501)}
protocol bgp egress4 from visp {
  local 198.18.1.2 as 64501;
  neighbor 198.18.1.1 as 64500;
  ipv4 { import all; export where proto = "def4" || proto = "host4"; };
}
protocol bgp egress6 from visp {
  local 2001:db8:ff01::2 as 64501;
  neighbor 2001:db8:ff01::1 as 64500;
  ipv6 { import all; export where proto = "def6" || proto = "host6"; };
}
`;

const spec: EgressSpec = {
  asn: 64500, routerId: '198.18.1.1',
  providers: [
    { address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 100, connectRetrySec: 1 },
    { address: '2001:db8:ff01::2', asn: 64501, families: ['ipv6'], maxPrefixes: 100, connectRetrySec: 1 },
  ],
  announcements: [
    { prefix: '203.0.113.0/25', allowed: '203.0.113.0/25' },
    { prefix: '203.0.113.128/25', allowed: '203.0.113.128/25' },
    { prefix: '2001:db8:1000::/48', allowed: '2001:db8:1000::/48' },
  ],
  maxLength: { ipv4: 25, ipv6: 48 },
};

describe.skipIf(bgpSkipReason)('slice tables on an egress node: provider routes from BIRD via gobgpd, policy routing, ping', () => {
  let dir: string;
  let egress: string, provider: string, sliceA: string, sliceB: string;
  let bird: Bird;
  let node: EgressNode;
  let tables: SliceTables;
  let watch: ProviderRouteWatch;
  const gobgpLog: string[] = [];
  let mainBefore: string;

  /** The node's main table as iproute2 prints it (IPv4 and IPv6), sorted (a device recreated lists its routes last). */
  const mainTable = (): string => (ipIn(egress, 'route', 'show', 'table', 'main') + ipIn(egress, '-6', 'route', 'show', 'table', 'main')).split('\n').sort().join('\n');
  /** Routes in table t: "dst via gw dev d" lines, IPv4 then IPv6, sorted. */
  const dump = (...args: string[]): Array<Record<string, string>> => {
    try { return JSON.parse(ipIn(egress, '-j', ...args)) as Array<Record<string, string>>; } catch (e) {
      if (/FIB table does not exist/.test(String((e as { stderr?: string }).stderr))) return []; // no route of that family in it
      throw e;
    }
  };
  const table = (t: number): string[] => [...dump('route', 'show', 'table', String(t)), ...dump('-6', 'route', 'show', 'table', String(t))].map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev} proto ${r.protocol}`).sort();
  /** Rules of ours as iproute2 prints them. */
  const rules = (): string[] => [
    ...JSON.parse(ipIn(egress, '-j', 'rule', 'show')) as Array<Record<string, unknown>>,
    ...JSON.parse(ipIn(egress, '-j', '-6', 'rule', 'show')) as Array<Record<string, unknown>>,
  ].filter((r) => r.protocol === '201')
    .map((r) => `${r.priority} ${r.src === 'all' || r.src === undefined ? `to ${r.dst}/${r.dstlen}` : `from ${r.src}/${r.srclen}`} ${r.table ? `lookup ${r.table}` : r.action}`).sort();
  const ping = (ns: string, from: string, to: string): boolean => {
    try { execIn(ns, 'ping', ...(to.includes(':') ? ['-6'] : []), '-c', '1', '-W', '1', '-I', from, to); return true; } catch { return false; }
  };
  const sysctl = (ns: string, key: string): string => execIn(ns, 'cat', `/proc/sys/net/${key.replace(/\./g, '/')}`).trim();
  /** Slice B's egress link: its addresses out of B's block, as visp allocates an egress link's. */
  const linkSliceB = (): void => {
    vethBetween(egress, 'sb0', ['203.0.113.128/31'], sliceB, 'up0', ['203.0.113.129/31']);
    ipIn(sliceB, 'route', 'add', 'default', 'via', '203.0.113.128');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-slt-'));
    egress = makeNetns('slte');
    provider = makeNetns('sltp');
    sliceA = makeNetns('slta');
    sliceB = makeNetns('sltb');
    vethBetween(egress, 'up0', ['198.18.1.1/30', '2001:db8:ff01::1/64'], provider, 'eg0', ['198.18.1.2/30', '2001:db8:ff01::2/64']);
    vethBetween(egress, 'sa0', ['198.18.50.1/30', '2001:db8:1000:1::1/64'], sliceA, 'up0', ['198.18.50.2/30', '2001:db8:1000:1::2/64']);
    linkSliceB();
    // The node's own default route (to a neighbour that never answers): it must survive everything.
    ipIn(egress, 'link', 'add', 'up9', 'type', 'veth', 'peer', 'name', 'up9p');
    ipIn(egress, 'addr', 'add', '198.18.9.1/30', 'dev', 'up9');
    ipIn(egress, '-6', 'addr', 'add', '2001:db8:ff09::1/64', 'dev', 'up9', 'nodad');
    ipIn(egress, 'link', 'set', 'up9', 'up');
    ipIn(egress, 'link', 'set', 'up9p', 'up');
    ipIn(egress, 'route', 'add', 'default', 'via', '198.18.9.2');
    ipIn(egress, '-6', 'route', 'add', 'default', 'via', '2001:db8:ff09::2');
    // The provider's host.
    ipIn(provider, 'addr', 'add', '192.0.2.1/32', 'dev', 'lo');
    ipIn(provider, '-6', 'addr', 'add', '2001:db8:ffff::1/128', 'dev', 'lo');
    // The slices: addresses of their blocks (and one outside) on lo, default via the egress link.
    ipIn(sliceA, 'addr', 'add', '203.0.113.10/32', 'dev', 'lo');
    ipIn(sliceA, 'addr', 'add', '198.51.100.10/32', 'dev', 'lo');
    ipIn(sliceA, '-6', 'addr', 'add', '2001:db8:1000::10/128', 'dev', 'lo');
    ipIn(sliceA, 'route', 'add', 'default', 'via', '198.18.50.1');
    ipIn(sliceA, '-6', 'route', 'add', 'default', 'via', '2001:db8:1000:1::1');
    ipIn(sliceB, 'addr', 'add', '203.0.113.130/32', 'dev', 'lo');
    // The provider routes the outside source back too: only the egress node decides.
    ipIn(provider, 'route', 'add', '198.51.100.0/24', 'via', '198.18.1.1');
    mainBefore = mainTable();

    bird = new Bird(provider, dir, 'prov', birdConfig);
    node = new EgressNode({ spec, apiSocket: join(dir, 'gobgp.sock'), netns: egress, restartDelayMs: 100, log: (l) => gobgpLog.push(l) });
    await node.start();
    await waitFor('BIRD sessions Established', () => bird.established('egress4', 'egress6'), 30_000, 100)
      .catch((e: Error) => { throw new Error(`${e.message}\nBIRD: ${bird.log.slice(-10).join('\n')}\ngobgpd: ${gobgpLog.slice(-10).join('\n')}`); });
    tables = new SliceTables({ netns: egress });
    watch = watchProviderRoutes(node.speaker.client, (ch) => tables.onProviderRoute(ch));
  });

  afterAll(async () => {
    watch?.close();
    tables?.close();
    await node?.stop();
    await bird?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fullA = [
    '198.18.50.2', '2001:db8:1000:1::2', // the next hops' own routes
    '192.0.2.1 via 198.18.1.2', '203.0.113.0/25 via 198.18.50.2',
    '2001:db8:1000::/48 via 2001:db8:1000:1::2', '2001:db8:ffff::1 via 2001:db8:ff01::2', 'default via 198.18.1.2', 'default via 2001:db8:ff01::2',
  ].sort();
  const defaultB = ['203.0.113.128/25 via 203.0.113.129', '203.0.113.129', 'default via 198.18.1.2'];
  const routesOf = (t: number): string[] => table(t).map((l) => l.replace(/ dev \S+ proto \S+$/, '')).sort();

  it('installs each slice\'s table and rules; provider routes land in the slice tables, never in main; forwarding on', async () => {
    expect(sysctl(egress, 'ipv4.conf.all.forwarding')).toBe('0');
    const steps = await tables.setDesired([SLICE_A, SLICE_B]);
    expect(steps).toEqual(expect.arrayContaining([
      'enable forwarding (ipv4)', 'enable forwarding (ipv6)',
      'add route 203.0.113.0/25 via 198.18.50.2 dev sa0 table 5001', 'add rule 10000: from 203.0.113.0/25 lookup 5001',
      'add rule 10001: from 203.0.113.0/25 unreachable', 'add rule 10000: to 203.0.113.128/25 lookup 5002',
    ]));
    expect(sysctl(egress, 'ipv4.conf.all.forwarding')).toBe('1');
    expect(sysctl(egress, 'ipv6.conf.all.forwarding')).toBe('1');
    expect(sysctl(sliceA, 'ipv4.conf.all.forwarding')).toBe('0'); // only the egress namespace
    expect(rules()).toEqual([
      '10000 from 2001:db8:1000::/48 lookup 5001', '10000 from 203.0.113.0/25 lookup 5001', '10000 from 203.0.113.128/25 lookup 5002',
      '10000 to 2001:db8:1000::/48 lookup 5001', '10000 to 203.0.113.0/25 lookup 5001', '10000 to 203.0.113.128/25 lookup 5002',
      '10001 from 2001:db8:1000::/48 unreachable', '10001 from 203.0.113.0/25 unreachable', '10001 from 203.0.113.128/25 unreachable',
      '10001 to 2001:db8:1000::/48 unreachable', '10001 to 203.0.113.0/25 unreachable', '10001 to 203.0.113.128/25 unreachable',
    ]);
    // `full`: default and the host prefix, IPv4 and IPv6, each via the provider.
    await waitFor('slice A\'s table full', () => JSON.stringify(routesOf(TA)) === JSON.stringify(fullA) && routesOf(TA), 10_000);
    expect(table(TA).every((l) => l.endsWith('proto 201'))).toBe(true);
    // `default`, IPv4 only (the slice has no IPv6 block): only 0.0.0.0/0; never A's routes.
    await waitFor('slice B\'s default', () => routesOf(TB).includes('default via 198.18.1.2'), 5000);
    expect(routesOf(TB)).toEqual(defaultB);
    expect(mainTable()).toBe(mainBefore);
    expect(tables.status()).toEqual([
      { slice: 'alpha', table: TA, routesInstalled: 4, skipped: [], blocksMissing: [] },
      { slice: 'beta', table: TB, routesInstalled: 1, skipped: [], blocksMissing: [] },
    ]);
  });

  it('ping from a slice address reaches the provider\'s host (IPv4 and IPv6); from outside the slice block it does not', () => {
    expect(ping(sliceA, '203.0.113.10', '192.0.2.1')).toBe(true);
    expect(ping(sliceA, '2001:db8:1000::10', '2001:db8:ffff::1')).toBe(true);
    expect(ping(sliceB, '203.0.113.130', '192.0.2.1')).toBe(true); // through B's default route
    // The outside source is forwarded by the node's main table (to its dead default), not into the provider's.
    expect(ping(sliceA, '198.51.100.10', '192.0.2.1')).toBe(false);
    expect(ipIn(egress, 'route', 'get', '192.0.2.1', 'from', '198.51.100.10', 'iif', 'sa0')).toMatch(/via 198\.18\.9\.2 dev up9/);
    expect(ipIn(egress, 'route', 'get', '192.0.2.1', 'from', '203.0.113.10', 'iif', 'sa0')).toMatch(/via 198\.18\.1\.2 dev up0 table 5001/);
  });

  it('provider withdraws its default: gone from both tables within 2 s; the slice\'s traffic is then unreachable, not sent by main', async () => {
    bird.birdc('disable', 'def4');
    bird.birdc('disable', 'def6');
    const t0 = Date.now();
    await waitFor('defaults gone from A and B', () => !routesOf(TA).some((r) => r.startsWith('default')) && !routesOf(TB).some((r) => r.startsWith('default')), 2000, 20);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(routesOf(TA)).toContain('192.0.2.1 via 198.18.1.2'); // the host route stays
    expect(routesOf(TB)).toEqual(['203.0.113.128/25 via 203.0.113.129', '203.0.113.129']);
    // B has no route now: the guard rule answers, the main table's default is not used.
    expect(() => ipIn(egress, 'route', 'get', '192.0.2.1', 'from', '203.0.113.130', 'iif', 'sb0')).toThrow(/unreachable/i);
    expect(ping(sliceB, '203.0.113.130', '192.0.2.1')).toBe(false);
    expect(mainTable()).toBe(mainBefore);
    bird.birdc('enable', 'def4');
    bird.birdc('enable', 'def6');
    await waitFor('defaults back', () => JSON.stringify(routesOf(TA)) === JSON.stringify(fullA) && routesOf(TB).includes('default via 198.18.1.2'), 5000, 20);
    expect(ping(sliceB, '203.0.113.130', '192.0.2.1')).toBe(true);
  });

  it('provider routes without a usable next hop are skipped with a reason', async () => {
    tables.onProviderRoute({ type: 'set', route: { prefix: '198.51.100.0/24', neighbor: '198.18.1.2', nextHop: '', asPath: [64501] } });
    tables.onProviderRoute({ type: 'set', route: { prefix: '198.51.100.128/25', neighbor: '198.18.1.2', nextHop: '198.18.77.1', asPath: [64501] } });
    tables.onProviderRoute({ type: 'set', route: { prefix: '2001:db8:77::/48', neighbor: '198.18.1.2', nextHop: '198.18.1.2', asPath: [64501] } });
    await tables.settled();
    expect(tables.lastError).toBeUndefined();
    const a = tables.status().find((s) => s.slice === 'alpha')!;
    expect(a.skipped).toEqual(expect.arrayContaining([
      { prefix: '198.51.100.0/24', reason: 'no next hop (from 198.18.1.2)' },
      { prefix: '198.51.100.128/25', reason: expect.stringMatching(/kernel refused next hop 198\.18\.77\.1: ENETUNREACH/) },
      { prefix: '2001:db8:77::/48', reason: 'next hop 198.18.1.2 is of the other address family' },
    ]));
    expect(routesOf(TA)).toEqual(fullA);
    for (const prefix of ['198.51.100.0/24', '198.51.100.128/25', '2001:db8:77::/48']) tables.onProviderRoute({ type: 'delete', prefix });
    await tables.settled();
    expect(tables.status().find((s) => s.slice === 'alpha')!.skipped).toEqual([]);
  });

  it('an agent restart: a new SliceTables adopts the tables and rules without a single write, also before it knows the provider routes', async () => {
    const before = { a: table(TA), b: table(TB), rules: rules() };
    watch.close();
    tables.close();
    const next = new SliceTables({ netns: egress });
    tables = next;
    // The provider routes are not known yet: they are kept, not flapped.
    expect(await next.setDesired([SLICE_A, SLICE_B])).toEqual([]);
    expect(next.writes).toBe(0);
    expect(next.stats.messages).toBe(4); // the dumps: IPv4 routes, IPv6 routes, rules, links
    // The watch delivers the RIB; the full set replaces what is known: still nothing to do.
    const w = watchProviderRoutes(node.speaker.client, (ch) => next.onProviderRoute(ch));
    watch = w;
    await waitFor('the watch\'s initial best paths', () => w.routes.size >= 4, 5000, 20);
    expect(await next.replaceProviderRoutes(w.routes.values())).toEqual([]);
    await next.settled();
    expect(next.writes).toBe(0);
    expect({ a: table(TA), b: table(TB), rules: rules() }).toEqual(before);
    expect(mainTable()).toBe(mainBefore);
  });

  it('once the full set is known, a provider route nobody announces any more is removed (stale after a restart)', async () => {
    // A route left behind by an earlier run, in A's table, marked as ours.
    ipIn(egress, 'route', 'add', '198.51.100.0/24', 'via', '198.18.1.2', 'table', String(TA), 'proto', '201');
    expect(await tables.reconcile()).toEqual(['delete route 198.51.100.0/24 via 198.18.1.2 table 5001']);
    // A route of someone else's in that table, and one of ours outside the range, are not touched.
    ipIn(egress, 'route', 'add', '198.51.100.0/24', 'via', '198.18.1.2', 'table', String(TA), 'proto', 'static');
    ipIn(egress, 'route', 'add', '198.51.100.0/24', 'via', '198.18.1.2', 'table', '100', 'proto', '201');
    expect(await tables.reconcile()).toEqual([]);
    ipIn(egress, 'route', 'del', '198.51.100.0/24', 'table', String(TA));
    ipIn(egress, 'route', 'del', '198.51.100.0/24', 'table', '100');
  });

  it('drift: a deleted rule or route of ours comes back on reconcile', async () => {
    ipIn(egress, 'rule', 'del', 'from', '203.0.113.0/25', 'lookup', String(TA), 'priority', '10000');
    ipIn(egress, 'route', 'del', '0.0.0.0/0', 'table', String(TB));
    expect((await tables.reconcile()).sort()).toEqual(['add route 0.0.0.0/0 via 198.18.1.2 table 5002', 'add rule 10000: from 203.0.113.0/25 lookup 5001']);
    expect(await tables.reconcile()).toEqual([]);
  });

  it('the block route deleted, a table flushed by hand while the rules stay: put back on reconcile (the next hop inside the block is found in T)', async () => {
    // Before the next hop's own route was in T, the kernel checked the
    // gateway through our rules (to <block> lookup T, then the guard) and
    // refused the block route with ENETUNREACH (IPv6: EHOSTUNREACH) forever.
    ipIn(egress, 'route', 'del', '203.0.113.128/25', 'table', String(TB));
    expect(await tables.reconcile()).toEqual(['add route 203.0.113.128/25 via 203.0.113.129 dev sb0 table 5002']);
    ipIn(egress, '-6', 'route', 'flush', 'table', String(TA));
    ipIn(egress, 'route', 'flush', 'table', String(TB));
    const steps = await tables.reconcile();
    expect(steps).toEqual(expect.arrayContaining([
      'add route 2001:db8:1000:1::2/128 dev sa0 table 5001', 'add route 2001:db8:1000::/48 via 2001:db8:1000:1::2 dev sa0 table 5001',
      'add route 203.0.113.129/32 dev sb0 table 5002', 'add route 203.0.113.128/25 via 203.0.113.129 dev sb0 table 5002',
      'add route 0.0.0.0/0 via 198.18.1.2 table 5002', 'add route ::/0 via 2001:db8:ff01::2 table 5001',
    ]));
    expect(routesOf(TA)).toEqual(fullA);
    expect(routesOf(TB)).toEqual(defaultB);
    expect(tables.status().flatMap((s) => s.blocksMissing)).toEqual([]);
    expect(ping(sliceA, '2001:db8:1000::10', '2001:db8:ffff::1')).toBe(true);
    expect(ping(sliceB, '203.0.113.130', '192.0.2.1')).toBe(true);
    expect(await tables.reconcile()).toEqual([]);
  });

  it('what cannot be put back is said per block with the reason (device down, device gone, someone else\'s route in its place), and put back once it can be', async () => {
    const missing = (): Array<{ prefix: string; reason: string }> => tables.status().find((s) => s.slice === 'beta')!.blocksMissing;
    // Down: the kernel drops every route via the device and refuses new ones.
    ipIn(egress, 'link', 'set', 'sb0', 'down');
    expect(await tables.reconcile()).toEqual([]);
    expect(missing()).toEqual([{ prefix: '203.0.113.128/25', reason: 'egress device sb0 is down (ENETDOWN)' }]);
    expect(tables.status().find((s) => s.slice === 'alpha')!.blocksMissing).toEqual([]);
    ipIn(egress, 'link', 'set', 'sb0', 'up');
    expect((await tables.reconcile()).sort()).toEqual(['add route 203.0.113.128/25 via 203.0.113.129 dev sb0 table 5002', 'add route 203.0.113.129/32 dev sb0 table 5002']);
    expect(missing()).toEqual([]);
    // Gone (deleting one end of a veth takes both).
    ipIn(egress, 'link', 'del', 'sb0');
    expect(await tables.reconcile()).toEqual([]);
    expect(missing()).toEqual([{ prefix: '203.0.113.128/25', reason: 'egress device sb0 does not exist' }]);
    linkSliceB();
    expect((await tables.reconcile()).sort()).toEqual(['add route 203.0.113.128/25 via 203.0.113.129 dev sb0 table 5002', 'add route 203.0.113.129/32 dev sb0 table 5002']);
    expect(missing()).toEqual([]);
    await waitFor('B reaches the provider again', () => ping(sliceB, '203.0.113.130', '192.0.2.1'), 5000, 100);
    // Someone else's route in the place of the block route: never written over.
    ipIn(egress, 'route', 'replace', 'blackhole', '203.0.113.128/25', 'table', String(TB), 'proto', 'static');
    const w = tables.writes;
    expect(await tables.reconcile()).toEqual([]);
    expect(tables.writes).toBe(w);
    expect(missing()).toEqual([{ prefix: '203.0.113.128/25', reason: 'table 5002 has a route to 203.0.113.128/25 that is not visp\'s (protocol 4); it is left alone' }]);
    expect(ipIn(egress, 'route', 'show', 'table', String(TB))).toMatch(/^blackhole 203\.0\.113\.128\/25 proto static/m);
    expect(ping(sliceB, '203.0.113.130', '192.0.2.1')).toBe(false); // the replies die in the blackhole
    ipIn(egress, 'route', 'del', 'blackhole', '203.0.113.128/25', 'table', String(TB), 'proto', 'static');
    expect(await tables.reconcile()).toEqual(['add route 203.0.113.128/25 via 203.0.113.129 dev sb0 table 5002']);
    expect(missing()).toEqual([]);
    expect(ping(sliceB, '203.0.113.130', '192.0.2.1')).toBe(true);
  });

  it('bad input is refused before anything is touched, naming the field', async () => {
    const bad = async (s: SliceTableSpec[], field: string, msg: RegExp): Promise<void> => {
      const e = await tables.setDesired(s).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(InvalidSpecError);
      expect((e as InvalidSpecError).field).toBe(field);
      expect((e as Error).message).toMatch(msg);
    };
    await bad([{ ...SLICE_A, table: 254 }], 'slices[0].table', /outside the slice table range/);
    await bad([SLICE_A, { ...SLICE_B, table: TA }], 'slices[1].table', /already the table of slice alpha/);
    await bad([{ ...SLICE_A, blocks: ['203.0.113.1/25'] }], 'slices[0].blocks[0]', /host bits/);
    await bad([SLICE_A, { ...SLICE_B, blocks: ['203.0.113.0/24'] }], 'slices[1].blocks[0]', /overlaps 203\.0\.113\.0\/25 of slice alpha/);
    await bad([{ ...SLICE_B, nextHops: [] }], 'slices[0].nextHops', /no ipv4 next hop/);
    await bad([{ ...SLICE_B, nextHops: [{ address: '203.0.113.129', dev: 'a/b' }] }], 'slices[0].nextHops[0].dev', /not an interface name/);
    await bad([{ ...SLICE_B, routes: 'some' as 'full' }], 'slices[0].routes', /"default" or "full"/);
    expect(await tables.reconcile()).toEqual([]);
    expect(tables.status().map((s) => s.slice)).toEqual(['alpha', 'beta']);
  });

  it('a slice removed from the desired set: its rules and table are gone; the other slice is untouched; then none', async () => {
    const a = table(TA);
    const steps = await tables.setDesired([SLICE_A]);
    expect(steps.filter((s) => s.startsWith('delete rule'))).toHaveLength(4);
    expect(steps.filter((s) => s.startsWith('delete route')).sort()).toEqual([
      'delete route 0.0.0.0/0 via 198.18.1.2 table 5002', 'delete route 203.0.113.128/25 via 203.0.113.129 table 5002', 'delete route 203.0.113.129/32 table 5002',
    ]);
    expect(table(TB)).toEqual([]);
    expect(rules().filter((r) => r.includes('203.0.113.128/25') || r.includes('5002'))).toEqual([]);
    expect(table(TA)).toEqual(a);
    expect(ping(sliceA, '203.0.113.10', '192.0.2.1')).toBe(true);
    await tables.setDesired([]);
    expect(table(TA)).toEqual([]);
    expect(rules()).toEqual([]);
    expect(ping(sliceA, '203.0.113.10', '192.0.2.1')).toBe(false);
    expect(mainTable()).toBe(mainBefore);
    // Provider changes while no slice wants them touch nothing.
    const w = tables.writes;
    bird.birdc('disable', 'host4');
    await sleep(500);
    await tables.settled();
    expect(tables.writes).toBe(w);
    bird.birdc('enable', 'host4');
  });
});
