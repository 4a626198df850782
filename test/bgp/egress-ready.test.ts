// The agent's egress (AgentEgress) on one egress node, against a real kernel,
// gobgpd and a BIRD 2 provider read with birdc: a slice's block is
// announced only while its data path on the egress node is in place. The
// data path broken by hand is put back by the next pass (the agent calls
// apply every reconcile); broken in a way visp must not or cannot repair,
// the block is withdrawn at the provider, `notReady` says why, and once it
// is repairable again the block is back.
//
//   slice ns (r1: 203.0.113.1/31, 2001:db8:1000::1/127; lo 203.0.113.5)
//      └─ veth ── bridge vbr-s1 in the egress ns (203.0.113.0/31, 2001:db8:1000::/127): the slice's egress device
//   egress ns (AgentEgress: gobgpd AS 64500, slice tables) ── up0 198.18.1.0/30, 2001:db8:ff01::/64 ── provider ns (BIRD 2, AS 64501)
//
// The link's addresses come out of the slice's blocks, as visp allocates an
// egress link's: the next hop is behind the slice's own rules.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentEgress } from '../../src/agent/egress.js';
import type { EgressDesired } from '../../src/bgp/desired.js';
import { execIn, ipIn, makeNetns } from '../helpers/netns.js';
import { Bird, BIRD_TEMPLATE, bgpSkipReason, vethBetween, waitFor } from './fixtures.js';

const B4 = '203.0.113.0/28', B6 = '2001:db8:1000::/48', T = 4101;

const birdConfig = `router id 198.18.1.2;
log stderr all;
protocol device {}
protocol static def4 { ipv4; route 0.0.0.0/0 blackhole; }
protocol static host4 { ipv4; route 192.0.2.1/32 blackhole; }
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
  ipv6 { import all; export none; };
}
`;

const desired: EgressDesired = {
  asn: 64500, routerId: '198.18.1.1', maxLength: { ipv4: 28, ipv6: 48 },
  providers: [
    { address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 10, connectRetrySec: 1 },
    { address: '2001:db8:ff01::2', asn: 64501, families: ['ipv6'], maxPrefixes: 10, connectRetrySec: 1 },
  ],
  slices: [{
    slice: 's1', table: T, blocks: [B4, B6], routes: 'default',
    nextHops: [{ address: '203.0.113.1', dev: 'vbr-s1' }, { address: '2001:db8:1000::1', dev: 'vbr-s1' }],
  }],
};

describe.skipIf(bgpSkipReason)('egress node: a slice is announced only while its data path is in place', () => {
  let dir: string;
  let egress: string, provider: string, slice: string;
  let bird: Bird;
  let eg: AgentEgress;
  const log: string[] = [];

  /** One agent pass (the agent calls apply on every reconcile). */
  const pass = (): Promise<string[]> => eg.apply(desired);
  const has = (prefix: string): boolean => bird.birdc('show', 'route', prefix).includes(prefix);
  const ping = (): boolean => { try { execIn(slice, 'ping', '-c', '1', '-W', '1', '-I', '203.0.113.5', '192.0.2.1'); return true; } catch { return false; } };
  /** The slice's egress device, as the link's endpoint builds it: a bridge with the egress node's addresses, the slice's veth in it. */
  const bridge = (): void => {
    ipIn(egress, 'link', 'add', 'vbr-s1', 'type', 'bridge');
    ipIn(egress, 'addr', 'add', '203.0.113.0/31', 'dev', 'vbr-s1');
    ipIn(egress, '-6', 'addr', 'add', '2001:db8:1000::/127', 'dev', 'vbr-s1', 'nodad');
    ipIn(egress, 'link', 'set', 'vbr-s1', 'up');
    ipIn(egress, 'link', 'add', 'vs1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', slice);
    ipIn(egress, 'link', 'set', 'vs1', 'master', 'vbr-s1', 'up');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-egr-'));
    egress = makeNetns('egre');
    provider = makeNetns('egrp');
    slice = makeNetns('egrs');
    vethBetween(egress, 'up0', ['198.18.1.1/30', '2001:db8:ff01::1/64'], provider, 'eg0', ['198.18.1.2/30', '2001:db8:ff01::2/64']);
    ipIn(provider, 'addr', 'add', '192.0.2.1/32', 'dev', 'lo');
    bridge();
    ipIn(slice, 'addr', 'add', '203.0.113.1/31', 'dev', 'eth0');
    ipIn(slice, 'addr', 'add', '203.0.113.5/32', 'dev', 'lo');
    ipIn(slice, 'link', 'set', 'eth0', 'up');
    ipIn(slice, 'route', 'add', 'default', 'via', '203.0.113.0');
    bird = new Bird(provider, dir, 'prov', birdConfig);
    eg = new AgentEgress({ name: 'e1', netns: egress, runDir: dir, log: (l) => log.push(l) });
    await pass();
    await waitFor('BIRD sessions Established', () => bird.established('egress4', 'egress6'), 30_000, 100)
      .catch((e: Error) => { throw new Error(`${e.message}\n${bird.log.slice(-10).join('\n')}\n${log.slice(-10).join('\n')}`); });
  }, 60_000);

  afterAll(async () => {
    await eg?.apply(undefined).catch(() => undefined); // stops gobgpd (a closed AgentEgress would leave it running)
    await bird?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('in place: both blocks announced, the slice reaches the provider, nothing not ready', async () => {
    await waitFor('both blocks at BIRD', async () => { await pass(); return has(B4) && has(B6); }, 10_000, 200);
    expect(eg.notReady('s1')).toBeUndefined();
    expect(eg.notReady('other')).toBeUndefined(); // not a slice of this node
    await waitFor('the provider\'s default in the slice table', async () => { await pass(); return ipIn(egress, 'route', 'show', 'table', String(T)).includes('default'); }, 10_000, 200);
    expect(ping()).toBe(true);
    expect(await pass()).toEqual([]);
  });

  it('the slice table flushed and a rule deleted by hand: the next pass puts them back, and the providers keep the blocks', async () => {
    ipIn(egress, 'route', 'flush', 'table', String(T));
    ipIn(egress, '-6', 'route', 'flush', 'table', String(T));
    ipIn(egress, 'rule', 'del', 'to', B4, 'lookup', String(T), 'priority', '10000');
    const steps = await pass();
    expect(steps).toEqual(expect.arrayContaining([
      `add route ${B4} via 203.0.113.1 dev vbr-s1 table ${T}`, `add route ${B6} via 2001:db8:1000::1 dev vbr-s1 table ${T}`,
      `add rule 10000: to ${B4} lookup ${T}`,
    ]));
    expect(steps.filter((s) => /withdraw|announce/i.test(s))).toEqual([]); // put back before GoBGP was told anything
    expect(eg.notReady('s1')).toBeUndefined();
    expect(has(B4) && has(B6)).toBe(true);
    await waitFor('ping through the repaired table', () => ping(), 5000, 100);
  });

  it('someone else\'s route in the place of the IPv4 block route: not overwritten, that block withdrawn (IPv6 stays), not ready with the reason; back once it is gone', async () => {
    ipIn(egress, 'route', 'replace', 'blackhole', B4, 'table', String(T), 'proto', 'static');
    await pass();
    expect(eg.notReady('s1')).toBe(`egress: ${B4} withdrawn: table ${T} has a route to ${B4} that is not visp's (protocol 4); it is left alone`);
    await waitFor(`${B4} withdrawn at BIRD`, () => !has(B4), 2000, 25);
    expect(has(B6)).toBe(true);
    expect(await pass()).toEqual([]); // nothing to do while it stays: no flap, no write
    expect(ping()).toBe(false);
    ipIn(egress, 'route', 'del', 'blackhole', B4, 'table', String(T), 'proto', 'static');
    const steps = await pass();
    expect(steps).toContain(`add route ${B4} via 203.0.113.1 dev vbr-s1 table ${T}`);
    expect(eg.notReady('s1')).toBeUndefined();
    await waitFor(`${B4} back at BIRD`, () => has(B4), 2000, 25);
    await waitFor('ping again', () => ping(), 5000, 100);
  });

  it('the egress device gone (nobody rebuilds it here): both blocks withdrawn, not ready; the device back: announced again', async () => {
    ipIn(egress, 'link', 'del', 'vbr-s1');
    ipIn(egress, 'link', 'del', 'vs1');
    await pass();
    expect(eg.notReady('s1')).toBe(`egress: ${B4} withdrawn: egress device vbr-s1 does not exist; ${B6} withdrawn: egress device vbr-s1 does not exist`);
    await waitFor('both withdrawn at BIRD', () => !has(B4) && !has(B6), 2000, 25);
    bridge();
    ipIn(slice, 'addr', 'add', '203.0.113.1/31', 'dev', 'eth0');
    ipIn(slice, 'link', 'set', 'eth0', 'up');
    ipIn(slice, 'route', 'add', 'default', 'via', '203.0.113.0');
    await pass();
    expect(eg.notReady('s1')).toBeUndefined();
    await waitFor('both back at BIRD', () => has(B4) && has(B6), 2000, 25);
    await waitFor('ping again', () => ping(), 5000, 100);
  });

  it('no established session with a provider of a family: not ready, saying which', async () => {
    bird.birdc('disable', 'egress6');
    await waitFor('the IPv6 session down, seen by a pass', async () => { await pass(); return eg.notReady('s1'); }, 10_000, 200);
    expect(eg.notReady('s1')).toBe('egress: no ipv6 session with a provider is established');
    bird.birdc('enable', 'egress6');
    await waitFor('ready again', async () => { await pass(); return eg.notReady('s1') === undefined; }, 30_000, 200);
  });
});
