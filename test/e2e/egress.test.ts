// BGP egress end to end, through the gRPC API only: a slice with an egress
// link on an egress node whose agent runs gobgpd, two providers running
// BIRD 2 (each its own ASN), read with birdc (an independent implementation).
//
//   r1 (slice router "r")  ── VXLAN over the lab hub ──  egr (egress node, AS 64500)
//                                                          ├─ 198.18.1.0/30, 2001:db8:ff01::/64 ── provA (AS 64501, host 198.51.100.10, 2001:db8:f0a::10)
//                                                          └─ 198.18.2.0/30, 2001:db8:ff02::/64 ── provB (AS 64502, host 198.51.100.20, 2001:db8:f0b::20)
//
// Each provider announces a default route and its host address, and exports
// what it learns from us into its own kernel (so replies find their way).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, collect, gobgpClient } from '../../src/bgp/gobgp-client.js';
import { localPath } from '../../src/bgp/reconcile.js';
import { findGobgpd } from '../../src/bgp/speaker.js';
import { parsePrefix } from '../../src/ipam/prefix.js';
import { Bird, bgpSkipReason, vethBetween } from '../bgp/fixtures.js';
import { birdConfig as labBirdConfig } from '../../src/lab/providers.js';
import { ipIn, makeNetns } from '../helpers/netns.js';
import { Lab, pingAsync, sleep, stripLen, waitFor, type Manifest, type TopologyLink } from './support.js';
import type { WatchEventsResponse__Output } from '../../src/api/gen/visp/v1/WatchEventsResponse.js';

const ASN = 64500;
const PROV = [
  { name: 'A', asn: 64501, ours: ['198.18.1.1', '2001:db8:ff01::1'], theirs: ['198.18.1.2', '2001:db8:ff01::2'], host: ['198.51.100.10', '2001:db8:f0a::10'] },
  { name: 'B', asn: 64502, ours: ['198.18.2.1', '2001:db8:ff02::1'], theirs: ['198.18.2.2', '2001:db8:ff02::2'], host: ['198.51.100.20', '2001:db8:f0b::20'] },
] as const;

// The same BIRD configuration lab mode gives its emulated providers.
const birdConfig = (p: (typeof PROV)[number]): string => labBirdConfig({
  name: p.name, asn: p.asn, egressNode: 'egr', egressAsn: ASN, netns: '', config: '', control: '',
  ours: { ipv4: p.ours[0], ipv6: p.ours[1], dev: '' }, theirs: { ipv4: p.theirs[0], ipv6: p.theirs[1] }, host: { ipv4: p.host[0], ipv6: p.host[1] },
});

describe.skipIf(bgpSkipReason)('e2e: BGP egress through the API, two BIRD 2 providers', () => {
  const lab = new Lab('eg', ['r1', 'egr']);
  const birds: Bird[] = [];
  let dir: string;
  let egrNs: string;
  let slice: string;
  let m: Manifest;
  let exp: string;
  let block4: string;
  let block6: string;
  let table: number;

  const egressLink = (extra: Partial<TopologyLink> = {}): TopologyLink => ({
    id: 'up', members: [{ node: 'r' }], encapsulation: 'ENCAPSULATION_VXLAN',
    ipv4: { enabled: true }, ipv6: { enabled: true }, egress: { node: 'egr', routes: 'EGRESS_ROUTES_FULL' }, ...extra,
  });
  const bothHave = (prefix: string): boolean => birds.every((b) => b.route(prefix)?.asPath === String(ASN));
  const noneHas = (prefix: string): boolean => birds.every((b) => b.route(prefix) === undefined);
  const tableRoutes = (fam: '-4' | '-6', t: number | string): string => ipIn(egrNs, fam, 'route', 'show', 'table', String(t));
  /** BIRD's import counters of its sessions with us (updates and withdraws received, accepted, …): any flap changes them. */
  const birdCounters = (b: Bird): string[] => ['egress4', 'egress6'].map((p) => /Import updates:.*\n\s*Import withdraws:.*/.exec(b.birdc('show', 'protocols', 'all', p))?.[0] ?? '');
  /** When BIRD last changed its route for prefix (timeformat iso long): a re-announcement changes it. */
  const routeSince = (b: Bird, prefix: string): string => /\[egress[46] ([^\]]+)\]/.exec(b.birdc('show', 'route', prefix, 'all'))?.[1] ?? '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-egress-'));
    await lab.start();
    egrNs = lab.node('egr').ns;
    for (const [i, p] of PROV.entries()) {
      const ns = makeNetns(`egprov${p.name.toLowerCase()}`);
      vethBetween(egrNs, `up${i}`, [`${p.ours[0]}/30`, `${p.ours[1]}/64`], ns, 'eg0', [`${p.theirs[0]}/30`, `${p.theirs[1]}/64`]);
      ipIn(ns, 'addr', 'add', `${p.host[0]}/32`, 'dev', 'lo');
      ipIn(ns, '-6', 'addr', 'add', `${p.host[1]}/128`, 'dev', 'lo');
      birds.push(new Bird(ns, dir, p.name, birdConfig(p)));
    }
    await lab.api.operator.setEgressNode({
      config: {
        node: 'egr', asn: ASN, routerId: '198.18.1.1',
        providers: PROV.flatMap((p) => [
          { address: p.theirs[0], asn: p.asn, families: ['ipv4'], maxPrefixes: 50 },
          { address: p.theirs[1], asn: p.asn, families: ['ipv6'], maxPrefixes: 50 },
        ]),
      },
    });
    await waitFor('both providers established', () => birds.every((b) => b.established('egress4', 'egress6')), 30_000, 200)
      .catch((e: Error) => { throw new Error(`${e.message}\n${lab.log.slice(-40).join('\n')}\n${birds.flatMap((b) => b.log.slice(-10)).join('\n')}\n${birds.map((b) => b.birdc('show', 'protocols')).join('\n')}`); });
  }, 90_000);

  afterAll(async () => {
    for (const b of birds) await b.stop();
    await lab.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Provision: both providers hold the slice\'s prefixes with our AS path; the experiment reaches each provider\'s host from its public address', async () => {
    slice = lab.slice('a');
    await lab.api.links.allocate({ slice, topology: { nodes: [{ id: 'r', node: 'r1' }], links: [egressLink()] } });
    await lab.api.links.provision({ slice });
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    const pub = m.blocks.filter((b) => b.addressClass === 'ADDRESS_CLASS_PUBLIC');
    block4 = pub.find((b) => !b.prefix.includes(':'))!.prefix;
    block6 = pub.find((b) => b.prefix.includes(':'))!.prefix;
    table = m.groupId;
    await waitFor('the slice prefixes at both providers', () => bothHave(block4) && bothHave(block6), 10_000, 100);

    const router = m.slivers[0]!.endpoints.find((e) => e.node === 'r')!;
    exp = router.netns;
    const [mine4, mine6] = [router.addresses.find((a) => !a.includes(':'))!, router.addresses.find((a) => a.includes(':'))!].map(stripLen);
    expect(parsePrefix(block4, 'b').family).toBe('ipv4');
    // Full table: both hosts and a default in the slice's table on the egress node.
    await waitFor('provider routes in the slice table', () =>
      PROV.every((p) => tableRoutes('-4', table).includes(p.host[0]) && tableRoutes('-6', table).includes(p.host[1]))
      && tableRoutes('-4', table).includes('default') && tableRoutes('-6', table).includes('default'), 10_000, 100);
    for (const p of PROV) {
      for (const [fam, host, src] of [['-4', p.host[0], mine4], ['-6', p.host[1], mine6]] as const) {
        expect(ipIn(exp, fam, 'route', 'get', host), `route to ${host} from the experiment`).toContain(`src ${src}`);
        await waitFor(`ping ${host} from ${exp} (source ${src})`, () => pingAsync(exp, host, 1, 1), 10_000, 200);
      }
    }
  });

  it('the provider routes are in the slice\'s table, never in the egress node\'s main table', () => {
    for (const fam of ['-4', '-6'] as const) {
      const main = tableRoutes(fam, 'main');
      expect(main).not.toContain('default');
      for (const p of PROV) expect(main).not.toContain(fam === '-4' ? p.host[0] : p.host[1]);
      expect(tableRoutes(fam, table)).toContain('default');
    }
  });

  it('no transit: a route learned from provider A is never seen at provider B (and the other way round)', async () => {
    await sleep(1000);
    expect(birds[1]!.route(`${PROV[0].host[0]}/32`)?.asPath ?? '').not.toContain(String(ASN));
    expect(birds[0]!.route(`${PROV[1].host[0]}/32`)?.asPath ?? '').not.toContain(String(ASN));
    for (const [i, b] of birds.entries()) {
      const other = PROV[1 - i]!;
      expect(b.route(`${other.host[0]}/32`), `provider ${PROV[i]!.name} must not learn ${other.name}'s host`).toBeUndefined();
      expect(b.route(`${other.host[1]}/128`)).toBeUndefined();
    }
  });

  it('import policy: a provider announcing a more specific of the slice\'s block is refused by GoBGP (it reaches our Adj-RIB-In, never the RIB or the slice\'s table)', async () => {
    const p = parsePrefix(block4, 'b');
    const sub = `${block4.split('/')[0]}/${p.length + 1}`;
    writeFileSync(join(dir, 'bird-A.conf'), birdConfig(PROV[0]).replace('protocol static default4 {', `protocol static hijack4 { ipv4; route ${sub} blackhole; }\nprotocol static default4 {`)
      .replace('export where proto = "default4"', 'export where proto = "hijack4" || proto = "default4"'));
    expect(birds[0]!.birdc('configure')).toMatch(/Reconfigured|Reconfiguration in progress/);
    const c = gobgpClient(`unix://${join(lab.dir, 'bgp-egr.sock')}`);
    try {
      const prefixesIn = async (tableType: 'ADJ_IN' | 'GLOBAL'): Promise<string[]> =>
        (await collect(c, 'ListPath', c.listPath, { tableType, name: tableType === 'ADJ_IN' ? PROV[0].theirs[0] : '', family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' } }))
          .map((r) => r.destination?.prefix ?? '');
      await waitFor(`${sub} in the Adj-RIB-In from provider A`, async () => (await prefixesIn('ADJ_IN')).includes(sub), 10_000, 100);
      await sleep(1000);
      expect(await prefixesIn('GLOBAL')).not.toContain(sub);
      expect(tableRoutes('-4', table)).not.toContain(sub);
      expect(await pingAsync(exp, PROV[0].host[0], 1, 2)).toBe(true);
    } finally {
      c.close();
      writeFileSync(join(dir, 'bird-A.conf'), birdConfig(PROV[0]));
      birds[0]!.birdc('configure');
    }
  });

  it('ListBgp shows the sessions established and the slice\'s prefixes announced', async () => {
    const { nodes } = await lab.api.operator.listBgp({ node: 'egr' });
    const n = nodes[0]!;
    expect(n.running).toBe(true);
    expect(n.peers.map((p) => p.state)).toEqual(['established', 'established', 'established', 'established']);
    expect(n.peers.every((p) => p.since !== '')).toBe(true);
    const s = n.slices.find((x) => x.slice === slice)!;
    expect(s.announced.sort()).toEqual([block4, block6].sort());
    expect(s.routesInstalled).toBeGreaterThanOrEqual(4);
    expect(s.table).toBe(table);
  });

  it('visp bgp (the built CLI) shows the same: sessions established with uptime, the slice\'s announced prefixes', async () => {
    // Asynchronously: the controller answering it runs in this process.
    const op = lab.pki.operator;
    const { stdout: text } = await promisify(execFile)('node', [join(process.cwd(), 'dist/src/cli/main.js'), 'bgp', '--controller', lab.address],
      { env: { ...process.env, VISP_TLS_CA: op.ca, VISP_TLS_CERT: op.cert, VISP_TLS_KEY: op.key } });
    expect(text).toContain('egress node egr: AS64500, router id 198.18.1.1, agent connected, speaker running');
    for (const p of PROV) expect(text).toMatch(new RegExp(`${p.theirs[0].replace(/\./g, '\\.')}\\s+${p.asn}\\s+established\\s+\\d+[smhd]`));
    expect(text).toMatch(new RegExp(`${slice}\\s+${table}\\s+\\S*${block4.replace(/[./]/g, (c) => `\\${c}`)}`));
  });

  it('a second slice cannot take an address of the first one\'s block, and a path injected into GoBGP outside any slice\'s block never reaches a provider', async () => {
    const inside = stripLen(m.slivers[0]!.endpoints.find((e) => e.node === 'r')!.addresses[0]!).replace(/\d+$/, (d) => String(Number(d) + 4));
    const err = await lab.api.links.allocate({
      slice: lab.slice('b'), topology: { nodes: [{ id: 'r', node: 'r1' }], links: [egressLink({ members: [{ node: 'r', ipv4: inside }], ipv6: undefined })] },
    }).then(() => undefined, (e: Error) => e);
    expect(err, 'allocation inside another slice\'s block').toBeInstanceOf(Error);
    // Refused by IPAM: that address's block belongs to another slice.
    expect(err!.message).toMatch(/^6 ALREADY_EXISTS: topology\.links\[0\]\.(members\[0\]\.)?ipv4: /);
    // Straight into gobgpd, past all of visp's own checks: the export policy drops it.
    const c = gobgpClient(`unix://${join(lab.dir, 'bgp-egr.sock')}`);
    try {
      for (const pfx of ['203.0.113.192/28', '198.51.100.0/24']) {
        await call(c, 'AddPath', c.addPath, { tableType: 'GLOBAL', path: localPath(parsePrefix(pfx, 'p')) });
      }
      await sleep(2000);
      expect(noneHas('203.0.113.192/28')).toBe(true);
      expect(birds.every((b) => b.route('198.51.100.0/24') === undefined)).toBe(true);
    } finally {
      for (const pfx of ['203.0.113.192/28', '198.51.100.0/24']) await call(c, 'DeletePath', c.deletePath, { tableType: 'GLOBAL', path: localPath(parsePrefix(pfx, 'p')) }).catch(() => undefined);
      c.close();
    }
  });

  it('the slice\'s table flushed and a rule deleted by hand on the egress node: put back within a couple of reconcile intervals, reported as repairs, the prefixes never withdrawn', async () => {
    const events: WatchEventsResponse__Output[] = [];
    const stream = lab.api.operator.watchEvents({ slice: '', node: 'egr' });
    const reader = (async () => { for await (const ev of stream) events.push(ev); })().catch(() => undefined);
    await sleep(100);
    const before = birds.map((b) => birdCounters(b));
    ipIn(egrNs, 'route', 'flush', 'table', String(table));
    ipIn(egrNs, '-6', 'route', 'flush', 'table', String(table));
    ipIn(egrNs, 'rule', 'del', 'from', block4, 'lookup', String(table), 'priority', '10000');
    const t0 = Date.now();
    // The agent reconciles every 500 ms here: two intervals and a pass.
    await waitFor('the block routes and the rule back', () => tableRoutes('-4', table).includes(`${block4} via`) && tableRoutes('-6', table).includes(`${block6} via`)
      && ipIn(egrNs, 'rule', 'show').includes(`from ${block4} lookup ${table}`), 1500, 25)
      .catch((e: Error) => { throw new Error(`${e.message}\n${lab.log.filter((l) => l.includes('egr')).slice(-30).join('\n')}`); });
    const took = Date.now() - t0;
    await waitFor('repair events', () => events.some((ev) => ev.kind === 'repair' && ev.message.includes(`add rule 10000: from ${block4} lookup ${table}`)), 5000, 25);
    const repairs = events.filter((ev) => ev.kind === 'repair').map((ev) => ev.message);
    expect(repairs.some((r) => r.includes(`add route ${block4} via `) && r.includes(`table ${table}`)), repairs.join('\n')).toBe(true);
    expect(repairs.some((r) => r.includes(`add route ${block6} via `))).toBe(true);
    stream.cancel();
    await reader;
    expect(took).toBeLessThan(1500);
    await waitFor('provider routes back in the slice table', () => tableRoutes('-4', table).includes('default') && tableRoutes('-6', table).includes('default'), 5000, 50);
    for (const p of PROV) for (const host of p.host) await waitFor(`ping ${host}`, () => pingAsync(exp, host, 1, 1), 5000, 100);
    // Repaired in the pass that found it, before GoBGP was told anything: the providers saw no withdrawal.
    expect(birds.map((b) => birdCounters(b))).toEqual(before);
    expect((await lab.api.links.status({ slice })).manifest!.operationalState).toBe('OPERATIONAL_STATE_READY');
  });

  it('someone else\'s route in the place of the block route on the egress node (visp never overwrites it): the slice leaves READY with the reason and its prefix is withdrawn at both providers; once it is gone, READY and announced again', async () => {
    ipIn(egrNs, 'route', 'replace', 'blackhole', block4, 'table', String(table), 'proto', 'static');
    await waitFor('withdrawn at both providers', () => noneHas(block4), 3000, 25);
    expect(bothHave(block6)).toBe(true); // the IPv6 block can still carry traffic
    let failed: Manifest | undefined;
    await waitFor('the slice not READY', async () => {
      failed = (await lab.api.links.status({ slice })).manifest!;
      return failed.operationalState !== 'OPERATIONAL_STATE_READY';
    }, 5000, 50);
    expect(failed!.operationalState).toBe('OPERATIONAL_STATE_FAILED');
    const ep = failed!.slivers[0]!.endpoints.find((e) => e.physicalNode === 'egr')!;
    expect(ep.operationalState).toBe('OPERATIONAL_STATE_FAILED');
    expect(ep.error).toContain(`${block4} withdrawn: table ${table} has a route to ${block4} that is not visp's (protocol 4); it is left alone`);
    expect(failed!.slivers[0]!.endpoints.find((e) => e.physicalNode === 'r1')!.operationalState).toBe('OPERATIONAL_STATE_READY');
    // It stays that way while the route stays (the agent keeps reconciling).
    await sleep(1500);
    expect(noneHas(block4)).toBe(true);
    ipIn(egrNs, 'route', 'del', 'blackhole', block4, 'table', String(table), 'proto', 'static');
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 5000);
    await waitFor('announced again at both providers', () => bothHave(block4), 5000, 25);
    for (const p of PROV) await waitFor(`ping ${p.host[0]}`, () => pingAsync(exp, p.host[0], 1, 1), 5000, 100);
  });

  it('agent restarted: no withdrawal flap at the providers (BIRD\'s route is unchanged), gobgpd adopted', async () => {
    const sock = join(lab.dir, 'bgp-egr.sock');
    const pid = findGobgpd(sock);
    const before = birds.map((b) => routeSince(b, block4));
    expect(before.every(Boolean)).toBe(true);
    await lab.stopAgent('egr');
    await lab.startAgent('egr');
    await lab.waitConnected(['egr']);
    await sleep(3000); // a few agent cycles
    expect(findGobgpd(sock)).toBe(pid);
    expect(birds.map((b) => routeSince(b, block4))).toEqual(before);
    expect(bothHave(block4) && bothHave(block6)).toBe(true);
  });

  it('gobgpd SIGKILLed: the agent starts it again and the announcements return', async () => {
    const sock = join(lab.dir, 'bgp-egr.sock');
    const pid = findGobgpd(sock)!;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor('a new gobgpd', () => { const p = findGobgpd(sock); return p !== undefined && p !== pid; }, 20_000, 100);
    await waitFor('both providers established again', () => birds.every((b) => b.established('egress4', 'egress6')), 30_000, 200);
    await waitFor('the slice prefixes back at both providers', () => bothHave(block4) && bothHave(block6), 15_000, 100);
    // docs/egress.md "After gobgpd restarts": the restart (≤ 3 s under load)
    // plus GoBGP's first connection 5–9 s later; more means a connection was
    // refused and GoBGP waited again.
    expect(Date.now() - t0, 'prefixes back after the kill (ms)').toBeLessThan(15_000);
    await waitFor('provider routes back in the slice table', () => tableRoutes('-4', table).includes('default'), 10_000, 100);
  });

  it('routes DEFAULT: only the providers\' default routes go into that slice\'s table; expiry withdraws it', async () => {
    const c = lab.slice('c');
    const endTime = new Date(Date.now() + 8000).toISOString();
    await lab.api.links.allocate({ slice: c, endTime, topology: { nodes: [{ id: 'r', node: 'r1' }], links: [egressLink({ ipv6: undefined, egress: { node: 'egr', routes: 'EGRESS_ROUTES_DEFAULT' } })] } });
    await lab.api.links.provision({ slice: c });
    const mc = await lab.waitState(c, 'OPERATIONAL_STATE_READY');
    const blk = mc.blocks.find((b) => b.addressClass === 'ADDRESS_CLASS_PUBLIC')!.prefix;
    await waitFor('c announced', () => bothHave(blk), 10_000, 100);
    await waitFor('c default route', () => tableRoutes('-4', mc.groupId).includes('default'), 10_000, 100);
    // (Besides the block route and its next hop's own route.)
    expect(tableRoutes('-4', mc.groupId).trim().split('\n').filter((l) => !l.startsWith(blk) && !/ scope link/.test(l)).map((l) => l.split(' ')[0])).toEqual(['default']);
    // The first slice's table is its own: its hosts are still there, c's default did not replace them.
    expect(tableRoutes('-4', table)).toContain(PROV[0].host[0]);
    await waitFor('c withdrawn after expiry', () => noneHas(blk), 15_000, 100);
    await waitFor('c table emptied', () => tableRoutes('-4', mc.groupId).trim() === '', 5000, 100);
  });

  it('Shutdown: withdrawn at both providers within 2 s', async () => {
    const d = lab.slice('d');
    await lab.api.links.allocate({ slice: d, topology: { nodes: [{ id: 'r', node: 'r1' }], links: [egressLink({ ipv6: undefined })] } });
    await lab.api.links.provision({ slice: d });
    const md = await lab.waitState(d, 'OPERATIONAL_STATE_READY');
    const blk = md.blocks.find((b) => b.addressClass === 'ADDRESS_CLASS_PUBLIC')!.prefix;
    await waitFor('d announced', () => bothHave(blk), 10_000, 100);
    const t0 = Date.now();
    await lab.api.links.shutdown({ slice: d });
    await waitFor('d withdrawn', () => noneHas(blk), 2000, 25);
    expect(Date.now() - t0).toBeLessThanOrEqual(2000);
    await lab.api.links.delete({ slice: d });
  });

  it('Delete: withdrawn at both providers within 2 s, the slice\'s table emptied and its rules gone', async () => {
    const t0 = Date.now();
    await lab.api.links.delete({ slice });
    await waitFor('withdrawn at both providers', () => noneHas(block4) && noneHas(block6), 2000, 25);
    const took = Date.now() - t0;
    expect(took).toBeLessThanOrEqual(2000);
    await waitFor('slice table empty', () => tableRoutes('-4', table).trim() === '' && tableRoutes('-6', table).trim() === '', 5000, 100);
    expect(ipIn(egrNs, 'rule', 'show')).not.toContain(`lookup ${table}`);
    expect(ipIn(egrNs, '-6', 'rule', 'show')).not.toContain(`lookup ${table}`);
  });
});
