// BGP egress against real BIRD 2 upstreams. An egress namespace runs gobgpd
// under Speaker (started with nsenter --net, API on a unix socket, config
// over the API); two provider namespaces each run BIRD 2 with their own ASN.
// What the providers see is read with birdc, an independent implementation.
//
//   egress (AS 64500)  ── 198.18.1.0/30, 2001:db8:ff01::/64 ──  provA (AS 64501)
//                      ── 198.18.2.0/30, 2001:db8:ff02::/64 ──  provB (AS 64502; IPv4 session with a TCP MD5 password)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyType, call, collect, type GobgpApiClient } from '../../src/bgp/gobgp-client.js';
import { localPath, reconcileEgress, type EgressSpec } from '../../src/bgp/reconcile.js';
import { EgressNode, type EgressNodeOptions } from '../../src/bgp/egress-node.js';
import { findGobgpd, type Speaker } from '../../src/bgp/speaker.js';
import { watchProviderRoutes, type RouteChange } from '../../src/bgp/watch.js';
import { parsePrefix } from '../../src/ipam/prefix.js';
import { makeNetns } from '../helpers/netns.js';
import { Bird, BIRD_TEMPLATE, bgpSkipReason, sleep, vethBetween, waitFor } from './fixtures.js';

const EGRESS_ASN = 64500;
const PROVIDERS = [
  { name: 'A', asn: 64501, v4: ['198.18.1.1', '198.18.1.2'], v6: ['2001:db8:ff01::1', '2001:db8:ff01::2'], password: undefined, own4: '203.0.113.160/27', extra4: '203.0.113.176/28', own6: '2001:db8:a000::/36' },
  { name: 'B', asn: 64502, v4: ['198.18.2.1', '198.18.2.2'], v6: ['2001:db8:ff02::1', '2001:db8:ff02::2'], password: 'vt-md5-secret', own4: '203.0.113.224/27', extra4: '203.0.113.240/28', own6: '2001:db8:b000::/36' },
] as const;

function birdConfig(p: (typeof PROVIDERS)[number]): string {
  return `router id ${p.v4[1]};
log stderr all;
protocol device {}
protocol static own4 { ipv4; route ${p.own4} blackhole; route ${p.extra4} blackhole; }
protocol static own6 { ipv6; route ${p.own6} blackhole; }
${BIRD_TEMPLATE(p.asn)}
protocol bgp egress4 from visp {
  local ${p.v4[1]} as ${p.asn};
  neighbor ${p.v4[0]} as ${EGRESS_ASN};${p.password ? `\n  password "${p.password}";` : ''}
  ipv4 { import all; export where proto = "own4"; };
}
protocol bgp egress6 from visp {
  local ${p.v6[1]} as ${p.asn};
  neighbor ${p.v6[0]} as ${EGRESS_ASN};
  ipv6 { import all; export where proto = "own6"; };
}
`;
}

describe.skipIf(bgpSkipReason)('bgp egress: gobgpd under Speaker, two BIRD 2 providers', () => {
  let dir: string;
  let egress: string;
  const birds: Bird[] = [];
  const gobgpLog: string[] = [];
  let speaker: Speaker;
  let node: EgressNode;
  let nodeOpts: EgressNodeOptions;
  let spec: EgressSpec;
  let readyApplies: string[][] = [];

  const birdc = (i: number, ...args: string[]): string => birds[i]!.birdc(...args);
  /** The route for exactly `prefix` at provider i with its AS path, or undefined. */
  const birdRoute = (i: number, prefix: string): { asPath: string } | undefined => birds[i]!.route(prefix);
  const bothHave = (prefix: string): boolean => [0, 1].every((i) => birdRoute(i, prefix)?.asPath === String(EGRESS_ASN));
  const noneHas = (prefix: string): boolean => [0, 1].every((i) => birdRoute(i, prefix) === undefined);
  const established = (i: number): boolean => birds[i]!.established('egress4', 'egress6');
  /**
   * Every route exchange on every session, as BIRD counts it: per provider and
   * session, the Import/Export updates and withdraws lines of `show protocols
   * all` (received, rejected, filtered, ignored, accepted). They only move when
   * an update or withdraw is sent or received, so two reads without a flap or a
   * re-announcement are identical.
   */
  const exchanges = (): string => [0, 1].flatMap((i) => ['egress4', 'egress6'].map((proto) => {
    const out = birdc(i, 'show', 'protocols', 'all', proto);
    const rows = ['Import updates', 'Import withdraws', 'Export updates', 'Export withdraws'].map((row) => {
      const m = new RegExp(`${row}:\\s+([-\\d\\s]+?)\\s*$`, 'm').exec(out);
      return `${row}: ${m ? m[1]!.trim().split(/\s+/).join(' ') : 'none'}`;
    });
    return `${PROVIDERS[i]!.name} ${proto}: ${rows.join('; ')}`;
  })).join('\n');

  /** When each BGP session at each provider last changed state (BIRD's "Since" column): a flap moves it. */
  const since = (): string => [0, 1].map((i) => birdc(i, 'show', 'protocols').split('\n')
    .filter((l) => /^egress[46]\s/.test(l)).map((l) => l.trim().split(/\s+/).slice(0, 5).join(' ')).join('; ')).join('\n');
  /**
   * Whether two since() readings show the same sessions, never re-established. BIRD keeps a
   * state change's time on its monotonic clock and prints it as wall time converted at print
   * time, so the same instant can print a millisecond apart from one `show protocols` to the
   * next (seen: a test failed on a 1 ms difference). A flap moves it by far more (a new
   * session needs an OPEN exchange, and exchanges() is compared exactly beside this).
   */
  const sameSince = (a: string, b: string): boolean => {
    const rows = (x: string): string[][] => x.split(/; |\n/).map((r) => r.split(' '));
    const ms = (t: string | undefined): number => {
      const m = /(\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?$/.exec(t ?? '');
      return m ? ((+m[1]! * 60 + +m[2]!) * 60 + +m[3]!) * 1000 + +(m[4] ?? '0').padEnd(3, '0') : NaN;
    };
    const ra = rows(a), rb = rows(b);
    return ra.length === rb.length && ra.every((r, i) => {
      const o = rb[i]!;
      return r.slice(0, 4).join(' ') === o.slice(0, 4).join(' ') && (r[4] === o[4] || Math.abs(ms(r[4]) - ms(o[4])) <= 5);
    });
  };
  /** Wait until both providers' sessions are up and BIRD's counters stop moving; returns them. */
  const quiet = async (): Promise<string> => {
    await waitFor('BIRD sessions up and their counters settled', async () => {
      if (!established(0) || !established(1)) return false;
      const a = exchanges();
      await sleep(500);
      return a === exchanges();
    }, 15_000, 0);
    return exchanges();
  };

  function baseSpec(): EgressSpec {
    return {
      asn: EGRESS_ASN,
      routerId: '198.18.1.1',
      // Provider A's sessions name our end (localAddress); B's leave it to the kernel.
      providers: PROVIDERS.flatMap((p) => [
        { address: p.v4[1], asn: p.asn, families: ['ipv4' as const], maxPrefixes: 100, connectRetrySec: 1, ...(p.password ? { password: p.password } : {}), ...(p.name === 'A' ? { localAddress: p.v4[0] } : {}) },
        { address: p.v6[1], asn: p.asn, families: ['ipv6' as const], maxPrefixes: 100, connectRetrySec: 1, ...(p.name === 'A' ? { localAddress: p.v6[0] } : {}) },
      ]),
      announcements: [
        { prefix: '203.0.113.0/25', allowed: '203.0.113.0/25' },
        { prefix: '2001:db8:1000::/48', allowed: '2001:db8:1000::/44' },
      ],
      maxLength: { ipv4: 25, ipv6: 48 },
    };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-bgp-'));
    egress = makeNetns('bgpe');
    for (const [i, p] of PROVIDERS.entries()) {
      const ns = makeNetns(`bgp${p.name.toLowerCase()}`);
      vethBetween(egress, `up${i}`, [`${p.v4[0]}/30`, `${p.v6[0]}/64`], ns, 'eg0', [`${p.v4[1]}/30`, `${p.v6[1]}/64`]);
      birds.push(new Bird(ns, dir, p.name, birdConfig(p)));
    }
    spec = baseSpec();
    // What the agent will own: the node's Speaker and desired state; after
    // every (re)start the desired state is applied (recorded by onApplied).
    nodeOpts = {
      spec, apiSocket: join(dir, 'gobgp.sock'), netns: egress, restartDelayMs: 100,
      log: (l) => gobgpLog.push(l),
      onApplied: (steps) => readyApplies.push(steps),
    };
    node = new EgressNode(nodeOpts);
    speaker = node.speaker;
    await node.start();
    await waitFor('both BIRD sessions (v4 and v6) Established', () => established(0) && established(1), 30_000, 100)
      .catch((e: Error) => { throw new Error(`${e.message}\nBIRD: ${birds.flatMap((b) => b.log).slice(-10).join('\n')}\ngobgpd: ${gobgpLog.slice(-10).join('\n')}`); });
  });

  afterAll(async () => {
    await speaker?.stop();
    for (const b of birds) await b.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const client = (): GobgpApiClient => speaker.client;

  it('announces the slice prefixes: both BIRDs hold them with AS path 64500 (IPv4 and IPv6)', async () => {
    expect(readyApplies[0]).toContain('announce 203.0.113.0/25');
    await waitFor('203.0.113.0/25 and 2001:db8:1000::/48 at both providers', () => bothHave('203.0.113.0/25') && bothHave('2001:db8:1000::/48'));
    expect(birdRoute(0, '203.0.113.0/25')).toEqual({ asPath: '64500' });
    expect(birdRoute(1, '2001:db8:1000::/48')).toEqual({ asPath: '64500' });
  });

  it('gobgpd connects to provider A from the local address configured for it (and B from the kernel\'s choice)', async () => {
    const peers = await collect(client(), 'ListPeer', client().listPeer, {});
    const local = (addr: string): string | undefined => peers.find((r) => r.peer?.conf?.neighborAddress === addr)?.peer?.transport?.localAddress;
    expect(local(PROVIDERS[0].v4[1])).toBe(PROVIDERS[0].v4[0]);
    expect(local(PROVIDERS[0].v6[1])).toBe(PROVIDERS[0].v6[0]);
    expect(established(0) && established(1)).toBe(true);
  });

  it('a second reconcile of the same desired state changes nothing; a policy changed by hand is put back', async () => {
    const c = client();
    expect(await reconcileEgress(c, spec)).toEqual([]);
    // Someone opens the export policy up by hand (default accept, our policy
    // unassigned): B's prefix leaks to A (also the positive control for the
    // no-transit test below)…
    await call(c, 'SetPolicyAssignment', c.setPolicyAssignment, { assignment: { name: 'global', direction: 'EXPORT', policies: [], defaultAction: 'ACCEPT' } });
    await call(c, 'ResetPeer', c.resetPeer, { address: PROVIDERS[0].v4[1], soft: true, direction: 'OUT' });
    await waitFor('B\'s prefix leaked to A while the policy is open', () => birdRoute(0, PROVIDERS[1].own4)?.asPath === '64500 64502', 10_000);
    // …reconcile puts the policy back and re-creates the peers: the leak is gone, our prefixes return.
    const steps = await reconcileEgress(c, spec);
    expect(steps[0]).toBe('replace export policy visp-egress-export and import policy visp-egress-import');
    expect(steps.filter((x) => x.startsWith('add peer'))).toHaveLength(4);
    await waitFor('the leaked route withdrawn at A', () => birdRoute(0, PROVIDERS[1].own4) === undefined, 5000);
    await waitFor('sessions back, our prefixes at both', () => established(0) && established(1) && bothHave('203.0.113.0/25') && bothHave('2001:db8:1000::/48'), 20_000, 100);
    expect(birdRoute(0, PROVIDERS[1].own4)).toBeUndefined();
    expect(await reconcileEgress(c, spec)).toEqual([]);
  });

  it('a failed read of GoBGP (a ListPolicy past its deadline) aborts the pass: nothing applied, no session flaps at either provider', async () => {
    const real = client();
    expect(await reconcileEgress(real, spec)).toEqual([]);
    const before = await quiet();
    const up = since();
    // The real client, except that its first ListPolicy is sent with a
    // deadline already passed: grpc-js fails it with DEADLINE_EXCEEDED, as a
    // slow gobgpd would. (Read as "no policy", this made the plan replace
    // the policies and delete and re-add all four provider peers.)
    let failed = 0;
    const flaky = new Proxy(real, {
      get(t, k) {
        if (k === 'listPolicy' && failed === 0) {
          return (req: Parameters<GobgpApiClient['listPolicy']>[0]) => { failed++; return t.listPolicy(req, { deadline: Date.now() - 1 }); };
        }
        const v: unknown = Reflect.get(t, k);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    await expect(reconcileEgress(flaky, spec)).rejects.toThrow(/reading GoBGP's state failed, nothing applied: gobgp ListPolicy: .*[Dd]eadline/);
    expect(failed).toBe(1);
    const peers = await collect(real, 'ListPeer', real.listPeer, {});
    expect(peers.map((r) => r.peer?.state?.sessionState)).toEqual(['ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED']);
    // BIRD saw nothing: no session went down, no update or withdraw was sent or received.
    await sleep(1000);
    expect(sameSince(since(), up), `${since()}\nvs\n${up}`).toBe(true);
    expect(exchanges()).toBe(before);
    // The next pass (the agent's next reconcile) reads again and finds nothing to do.
    expect(await reconcileEgress(flaky, spec)).toEqual([]);
    expect(sameSince(since(), up), `${since()}\nvs\n${up}`).toBe(true);
  });

  it('refuses an announcement outside the allowed block or more specific than allowed, before touching GoBGP', async () => {
    await expect(reconcileEgress(client(), { ...spec, announcements: [{ prefix: '203.0.113.128/25', allowed: '203.0.113.0/25' }] })).rejects.toThrow(/not inside/);
    await expect(reconcileEgress(client(), { ...spec, announcements: [{ prefix: '203.0.113.0/26', allowed: '203.0.113.0/25' }] })).rejects.toThrow(/more specific/);
    expect(await reconcileEgress(client(), spec)).toEqual([]);
  });

  it('GoBGP\'s export policy drops paths injected behind our back (outside the block, too specific)', async () => {
    const c = client();
    const inject = async (p: string): Promise<void> => { await call(c, 'AddPath', c.addPath, { tableType: 'GLOBAL', path: localPath(parsePrefix(p, 'test')) as never }); };
    await inject('203.0.113.128/26'); // outside the allowed block
    await inject('203.0.113.0/26'); // inside, but longer than maxLength /25
    await inject('2001:db8:2000::/48'); // outside the IPv6 block
    // A marker injected the same way but inside the allowed set: once both
    // providers hold it, GoBGP has processed the injections before it.
    await inject('2001:db8:1001::/48');
    await waitFor('the marker 2001:db8:1001::/48 at both providers', () => bothHave('2001:db8:1001::/48'), 5000, 20);
    // The rejected paths are in GoBGP's RIB…
    const rib = (await collect(c, 'ListPath', c.listPath, { tableType: 'GLOBAL', family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' } }))
      .map((r) => r.destination?.prefix);
    expect(rib).toEqual(expect.arrayContaining(['203.0.113.128/26', '203.0.113.0/26']));
    // …but no provider received them.
    await sleep(300);
    for (const p of ['203.0.113.128/26', '203.0.113.0/26', '2001:db8:2000::/48']) expect(noneHas(p), p).toBe(true);
    expect(bothHave('203.0.113.0/25')).toBe(true);
    // Reconcile removes what is not desired.
    const steps = await reconcileEgress(c, spec);
    expect(steps.sort()).toEqual(['withdraw 2001:db8:1001::/48', 'withdraw 2001:db8:2000::/48', 'withdraw 203.0.113.0/26', 'withdraw 203.0.113.128/26']);
    expect(await reconcileEgress(c, spec)).toEqual([]);
  });

  it('a path for our own prefix with forged attributes (another origin AS, a community) is replaced with ours at the next reconcile', async () => {
    const c = client();
    const forged = localPath(parsePrefix('203.0.113.0/25', 'test'));
    forged.pattrs = [
      ...(forged.pattrs as Array<Record<string, unknown>>),
      { '@type': anyType('AsPathAttribute'), segments: [{ type: 'AS_SEQUENCE', numbers: [64666] }] },
      { '@type': anyType('CommunitiesAttribute'), communities: [(64666 << 16) | 1] },
    ];
    await call(c, 'AddPath', c.addPath, { tableType: 'GLOBAL', path: forged as never });
    // GoBGP keeps one local path per prefix: the forged one replaced ours and reaches both providers.
    await waitFor('the forged AS path at both providers', () => [0, 1].every((i) => birdRoute(i, '203.0.113.0/25')?.asPath === `${EGRESS_ASN} 64666`), 5000, 20);
    const steps = await reconcileEgress(c, spec);
    expect(steps).toEqual([expect.stringMatching(/^announce 203\.0\.113\.0\/25 \(replacing a path not ours: .*as-path 64666.*\)$/)]);
    await waitFor('our own path back at both providers', () => bothHave('203.0.113.0/25'), 5000, 20);
    expect(await reconcileEgress(c, spec)).toEqual([]);
  });

  it('no transit: a route learned from provider A is never seen at provider B (and B\'s not at A)', async () => {
    const c = client();
    // GoBGP has learned both providers' own prefixes…
    const learned = async (): Promise<string[]> => (await collect(c, 'ListPath', c.listPath, { tableType: 'GLOBAL', family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' } }))
      .map((r) => r.destination?.prefix ?? '');
    const end = Date.now() + 10_000;
    let have: string[] = [];
    while (Date.now() < end) { have = await learned(); if (have.includes(PROVIDERS[0].own4) && have.includes(PROVIDERS[1].own4)) break; await sleep(100); }
    expect(have).toEqual(expect.arrayContaining([PROVIDERS[0].own4, PROVIDERS[1].own4]));
    // …and our own announcement has reached both, so anything exported would have too.
    expect(bothHave('203.0.113.0/25')).toBe(true);
    await sleep(1000);
    expect(birdRoute(1, PROVIDERS[0].own4)).toBeUndefined();
    expect(birdRoute(0, PROVIDERS[1].own4)).toBeUndefined();
    expect(birdRoute(1, PROVIDERS[0].own6)).toBeUndefined();
    expect(birdRoute(0, PROVIDERS[1].own6)).toBeUndefined();
    // Each BIRD still has its own (sanity: the prefix exists to be leaked).
    expect(birdRoute(0, PROVIDERS[0].own4)).toBeDefined();
  });

  it('provider routes: WatchEvent on best paths sees each provider\'s prefixes with its AS path, and their withdrawal', async () => {
    const changes: RouteChange[] = [];
    const w = watchProviderRoutes(client(), (ch) => changes.push(ch));
    try {
      const [a, b] = PROVIDERS;
      await waitFor('all four provider prefixes (v4 + v6)', () => [a.own4, a.extra4, a.own6, b.own4, b.own6].every((p) => w.routes.has(p)), 10_000);
      expect(w.routes.get(a.own4)).toEqual({ prefix: a.own4, neighbor: a.v4[1], nextHop: a.v4[1], asPath: [64501] });
      expect(w.routes.get(b.own6)).toEqual({ prefix: b.own6, neighbor: b.v6[1], nextHop: b.v6[1], asPath: [64502] });
      // Our own announcements are not provider routes.
      expect(w.routes.has('203.0.113.0/25')).toBe(false);
      // A withdraws its IPv4 prefixes: gone from the watch; back when it re-announces.
      birdc(0, 'disable', 'own4');
      await waitFor('A\'s IPv4 prefixes withdrawn', () => !w.routes.has(a.own4) && !w.routes.has(a.extra4), 5000, 20);
      expect(changes).toContainEqual({ type: 'delete', prefix: a.own4 });
      expect(w.routes.has(b.own4)).toBe(true);
      birdc(0, 'enable', 'own4');
      await waitFor('A\'s IPv4 prefixes back', () => w.routes.has(a.own4) && w.routes.has(a.extra4), 5000, 20);
    } finally {
      w.close();
    }
  });

  it('withdraw (through EgressNode.apply): gone at both BIRDs within 2 s; announce again', async () => {
    spec = { ...spec, announcements: spec.announcements.filter((a) => !a.prefix.startsWith('203.')) };
    const t0 = Date.now();
    readyApplies = [];
    expect(await node.apply(spec)).toEqual(['withdraw 203.0.113.0/25', 'disallow 203.0.113.0/25 25..25', 'stop refusing 203.0.113.0/25 from providers']);
    expect(readyApplies).toEqual([['withdraw 203.0.113.0/25', 'disallow 203.0.113.0/25 25..25', 'stop refusing 203.0.113.0/25 from providers']]);
    await waitFor('203.0.113.0/25 withdrawn at both', () => noneHas('203.0.113.0/25'), 2000, 20);
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(2000);
    expect(bothHave('2001:db8:1000::/48')).toBe(true);
    spec = baseSpec();
    // Two applies at once run one after the other: the second finds nothing to do.
    const [first, second] = await Promise.all([node.apply(spec), node.apply(spec)]);
    expect(first).toEqual(['refuse 203.0.113.0/25 25..32 from providers', 'allow 203.0.113.0/25 25..25', 'announce 203.0.113.0/25']);
    expect(second).toEqual([]);
    await expect(node.apply({ ...spec, routerId: '198.18.9.9' })).rejects.toThrow(/needs a new speaker/);
    await expect(node.apply({ ...spec, announcements: [{ prefix: '203.0.113.128/25', allowed: '203.0.113.0/25' }] })).rejects.toThrow(/not inside/);
    expect(node.spec).toBe(spec);
    await waitFor('203.0.113.0/25 back at both', () => bothHave('203.0.113.0/25'), 5000, 20);
  });

  it('max-prefix: a provider sending more prefixes than its limit loses the session (GoBGP enforces it)', async () => {
    const c = client();
    const a4 = PROVIDERS[0].v4[1];
    const limited: EgressSpec = { ...spec, providers: spec.providers.map((p) => (p.address === a4 ? { ...p, maxPrefixes: 1 } : p)) };
    expect(await reconcileEgress(c, limited)).toEqual([`delete peer ${a4}`, `add peer ${a4} AS64501`]);
    expect(await reconcileEgress(c, limited)).toEqual([]);
    // A sends two IPv4 prefixes: GoBGP closes the session and keeps it down.
    await waitFor('GoBGP stopped the session with A (prefix limit)', async () => {
      const peer = (await collect(c, 'ListPeer', c.listPeer, { address: a4 }))[0]?.peer;
      return peer?.state?.adminState === 'PFX_CT';
    }, 15_000, 100);
    await waitFor('our prefix gone at A (session down)', () => birdRoute(0, '203.0.113.0/25') === undefined, 5000);
    expect(birdRoute(1, '203.0.113.0/25')).toEqual({ asPath: '64500' });
    // Raising the limit again: the peer is re-created and comes back.
    expect(await reconcileEgress(c, spec)).toEqual([`delete peer ${a4}`, `add peer ${a4} AS64501`]);
    await waitFor('203.0.113.0/25 back at A', () => bothHave('203.0.113.0/25'), 20_000, 100);
  });

  it('gobgpd SIGKILLed: Speaker restarts it, re-applies the desired state, the announcements return', async () => {
    const pid = speaker.pid!;
    const starts = speaker.starts;
    readyApplies = [];
    process.kill(pid, 'SIGKILL');
    // The providers notice (the TCP session is reset) and drop the route.
    await waitFor('route gone at both after the kill', () => noneHas('203.0.113.0/25'), 10_000, 20);
    await waitFor('gobgpd restarted', () => speaker.starts > starts && speaker.pid !== pid && readyApplies.length > 0, 10_000);
    await speaker.settled();
    expect(readyApplies[0]).toEqual(expect.arrayContaining(['announce 203.0.113.0/25', 'announce 2001:db8:1000::/48', 'install export policy visp-egress-export and import policy visp-egress-import']));
    await waitFor('announcements back at both after the restart', () => bothHave('203.0.113.0/25') && bothHave('2001:db8:1000::/48'), 20_000, 50);
    expect(await reconcileEgress(client(), spec)).toEqual([]);
  });

  it('an agent restart adopts the running gobgpd: nothing restarted, no flap; it still restarts gobgpd when it dies', async () => {
    // No flap = BIRD received and sent nothing on any session: its per-channel
    // update and withdraw counters stay put (route timestamps are no measure:
    // BIRD prints them from a monotonic clock and two reads can differ by 1 ms).
    const before = await quiet();
    expect(before).not.toContain(': none');
    const pid = speaker.pid!;
    // A different router id is not "the same speaker": refused, and the running one is left alone.
    const other = new EgressNode({ ...nodeOpts, spec: { ...spec, routerId: '198.18.9.9' }, adopt: true });
    await expect(other.start()).rejects.toThrow(/already serves .*router id 198\.18\.1\.1/);
    expect(existsSync(speaker.opts.apiSocket)).toBe(true);
    // The old agent lets go (as when it exits); the new one adopts.
    speaker.detach();
    readyApplies = [];
    const next = new EgressNode({ ...nodeOpts, spec, adopt: true }).speaker;
    speaker = next;
    await next.start();
    expect(next.starts).toBe(0);
    expect(next.pid).toBe(pid);
    expect(readyApplies).toEqual([[]]);
    await sleep(500);
    expect(exchanges()).toEqual(before);
    // The adopted daemon is not its child, yet its death is noticed and repaired.
    process.kill(pid, 'SIGKILL');
    await waitFor('the adopted gobgpd replaced', () => next.starts === 1 && next.pid !== pid && readyApplies.length === 2, 10_000);
    expect(readyApplies[1]).toEqual(expect.arrayContaining(['announce 203.0.113.0/25']));
    await waitFor('announcements back at both', () => bothHave('203.0.113.0/25') && bothHave('2001:db8:1000::/48'), 20_000, 50);
  });

  it('an agent restart while gobgpd does not answer (SIGSTOPped) starts no second gobgpd beside it: refused, no flap; adopted once it answers', async () => {
    const before = await quiet();
    const up = since();
    const pid = speaker.pid!;
    const sock = speaker.opts.apiSocket;
    const other = new EgressNode({ ...nodeOpts, spec, adopt: true, onApplied: undefined }).speaker;
    process.kill(pid, 'SIGSTOP');
    try {
      await expect(other.start()).rejects.toThrow(new RegExp(`gobgpd \\(pid ${pid}\\) serves .* but did not answer .*not starting another`));
      expect(other.starts).toBe(0);
      expect(findGobgpd(sock)).toBe(pid);
      expect(existsSync(sock)).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Answering again: the same start adopts it (as the agent's next pass would).
    speaker.detach();
    speaker = other;
    await other.start();
    expect(other.pid).toBe(pid);
    expect(other.starts).toBe(0);
    await sleep(500);
    expect(sameSince(since(), up), `${since()}\nvs\n${up}`).toBe(true);
    expect(exchanges()).toBe(before);
  });

  it('stop() of an adopted gobgpd: SIGTERM → Cease, both providers withdraw at once, the daemon is gone', async () => {
    const pid = speaker.pid!;
    speaker.detach();
    const last = new EgressNode({ ...nodeOpts, spec, adopt: true, onApplied: undefined }).speaker;
    speaker = last;
    await last.start();
    expect(last.pid).toBe(pid);
    const t0 = Date.now();
    await last.stop();
    await waitFor('withdrawn at both after stop', () => noneHas('203.0.113.0/25') && noneHas('2001:db8:1000::/48'), 2000, 20);
    expect(Date.now() - t0).toBeLessThan(2000);
    // Dead at once; the pid may linger a moment as a zombie until its parent (this process, when it started it) reaps it.
    await waitFor(`gobgpd (pid ${pid}) reaped`, () => { try { process.kill(pid, 0); return false; } catch { return true; } }, 1000, 10);
    expect(existsSync(last.opts.apiSocket)).toBe(false);
  });
});
