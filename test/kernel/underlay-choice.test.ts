// Which addresses an agent offers as its underlay, on a node with two
// devices (ul0: 198.18.0.1 and one IPv6 address; eth1: 203.0.113.5 and two
// IPv6 addresses, and the default routes): the rule in src/agent/underlay.ts,
// against the kernel's own route lookup (RTM_GETROUTE, checked against
// `ip route get`).
import { beforeAll, describe, expect, it } from 'vitest';
import { AgentCore } from '../../src/agent/agent.js';
import { chooseUnderlay, controllerTarget } from '../../src/agent/underlay.js';
import { linkList } from '../../src/netlink/link.js';
import { routeGet } from '../../src/netlink/route.js';
import { NetlinkSocket } from '../../src/netlink/socket.js';
import { ipIn, kernelSkipReason, makeNetns } from '../helpers/netns.js';

describe('controllerTarget: the host of a gRPC target', () => {
  const cases: Array<[string, ReturnType<typeof controllerTarget>]> = [
    ['unix:/run/visp/controller.sock', { local: true }],
    ['unix:///run/visp/controller.sock', { local: true }],
    ['unix-abstract:visp', { local: true }],
    ['198.18.0.9:7443', { local: false, host: '198.18.0.9' }],
    ['controller.example.org:7443', { local: false, host: 'controller.example.org' }],
    ['controller.example.org', { local: false, host: 'controller.example.org' }],
    ['[2001:db8::9]:7443', { local: false, host: '2001:db8::9' }],
    ['2001:db8::9', { local: false, host: '2001:db8::9' }],
    ['dns:///controller.example.org:7443', { local: false, host: 'controller.example.org' }],
    ['dns://8.8.8.8/controller.example.org:7443', { local: false, host: 'controller.example.org' }],
    ['ipv4:198.18.0.9:7443,198.18.0.10:7443', { local: false, host: '198.18.0.9' }],
    ['ipv6:[2001:db8::9]:7443', { local: false, host: '2001:db8::9' }],
  ];
  for (const [address, want] of cases) it(address, () => expect(controllerTarget(address)).toEqual(want));
});

describe.skipIf(kernelSkipReason)('the agent\'s underlay on a node with two devices', () => {
  let ns: string, lone: string, bare: string;
  const logs: string[] = [];
  const choose = (controller: string, given?: string[], netns = ns): Promise<string[]> =>
    chooseUnderlay({ controller, netns, log: (l) => logs.push(l), ...(given ? { given } : {}) });
  const refusal = async (p: Promise<unknown>): Promise<string> => { try { await p; } catch (e) { return (e as Error).message; } throw new Error('expected a refusal'); };

  /** A device that is up with a carrier (a veth whose peer, also up, holds no global address; this kernel has no dummy driver). */
  const device = (netns: string, name: string): void => {
    ipIn(netns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}-p`);
    ipIn(netns, 'link', 'set', `${name}-p`, 'up');
    ipIn(netns, 'link', 'set', name, 'up');
  };

  beforeAll(() => {
    ns = makeNetns('ulc');
    for (const dev of ['ul0', 'eth1']) device(ns, dev);
    ipIn(ns, 'addr', 'add', '198.18.0.1/24', 'dev', 'ul0');
    ipIn(ns, '-6', 'addr', 'add', '2001:db8:ff::1/64', 'dev', 'ul0', 'nodad');
    ipIn(ns, 'addr', 'add', '203.0.113.5/24', 'dev', 'eth1');
    ipIn(ns, '-6', 'addr', 'add', '2001:db8:1::5/64', 'dev', 'eth1', 'nodad');
    ipIn(ns, '-6', 'addr', 'add', '2001:db8:1::6/64', 'dev', 'eth1', 'nodad');
    ipIn(ns, 'route', 'add', 'default', 'via', '203.0.113.1', 'dev', 'eth1');
    ipIn(ns, '-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'eth1');
    // A device visp made (its alias says so) does not count, whatever it holds.
    device(ns, 'vx-test');
    ipIn(ns, 'link', 'set', 'vx-test', 'alias', 'visp:s1/l1');
    ipIn(ns, 'addr', 'add', '192.0.2.1/24', 'dev', 'vx-test');

    // One device, one address per family, no default route.
    lone = makeNetns('ull');
    device(lone, 'ul0');
    ipIn(lone, 'addr', 'add', '198.18.0.1/24', 'dev', 'ul0');
    ipIn(lone, '-6', 'addr', 'add', '2001:db8:ff::1/64', 'dev', 'ul0', 'nodad');

    bare = makeNetns('ulb');
  });

  it('routeGet answers as `ip route get` does', async () => {
    const s = new NetlinkSocket({ netns: ns });
    try {
      const names = new Map((await linkList(s)).map((l) => [l.index, l.name]));
      for (const dst of ['198.18.0.9', '192.0.2.77', '2001:db8:ff::9', '2001:db8:77::1']) {
        const r = await routeGet(s, dst);
        const ip = (JSON.parse(ipIn(ns, '-j', 'route', 'get', dst)) as Array<{ dev: string; prefsrc: string }>)[0]!;
        expect({ src: r.src, dev: names.get(r.oif!) }, dst).toEqual({ src: ip.prefsrc, dev: ip.dev });
      }
      expect((await routeGet(s, '192.0.2.77')).src).toBe('192.0.2.1'); // the visp device's own subnet
      const none = await routeGet(new NetlinkSocket({ netns: lone }), '198.51.100.9').catch((e: unknown) => e);
      expect(none).toMatchObject({ op: 'routeGet', errnoName: 'ENETUNREACH' });
    } finally {
      s.close();
    }
  });

  it('a controller across ul0: its source address, and ul0\'s one IPv6 address', async () => {
    logs.length = 0;
    expect(await choose('198.18.0.9:7443')).toEqual(['198.18.0.1', '2001:db8:ff::1']);
    expect(logs).toEqual([
      'underlay: 198.18.0.1 on ul0 (the source address toward the controller 198.18.0.9)',
      'underlay: 2001:db8:ff::1 (the one global IPv6 address on ul0)',
    ]);
  });

  it('a controller behind the default route: eth1\'s address; eth1 has two IPv6 addresses, so no IPv6 underlay, and the log says why', async () => {
    logs.length = 0;
    expect(await choose('dns:///198.51.100.20:7443')).toEqual(['203.0.113.5']);
    expect(logs).toEqual([
      'underlay: 203.0.113.5 on eth1 (the source address toward the controller 198.51.100.20)',
      'underlay: no IPv6 underlay: eth1 has 2 global IPv6 addresses (2001:db8:1::6, 2001:db8:1::5); give --underlay to choose',
    ]);
  });

  it('a controller reached over IPv6: the IPv6 source, and the IPv4 address on the same device', async () => {
    expect(await choose('[2001:db8:ff::9]:7443')).toEqual(['198.18.0.1', '2001:db8:ff::1']);
    // eth1 has two IPv6 addresses: the kernel picks the source, IPv4 follows the device.
    const src = (JSON.parse(ipIn(ns, '-j', 'route', 'get', '2001:db8:1::9')) as Array<{ prefsrc: string }>)[0]!.prefsrc;
    expect(['2001:db8:1::5', '2001:db8:1::6']).toContain(src);
    logs.length = 0;
    expect(await choose('[2001:db8:1::9]:7443')).toEqual(['203.0.113.5', src]);
    expect(logs).toEqual([
      `underlay: ${src} on eth1 (the source address toward the controller 2001:db8:1::9)`,
      'underlay: 203.0.113.5 (the one global IPv4 address on eth1)',
    ]);
  });

  it('a controller on this machine (unix socket, loopback) with two global IPv4 addresses is ambiguous', async () => {
    for (const c of ['unix:/run/visp/controller.sock', 'localhost:7443', '127.0.0.1:7443']) {
      expect(await refusal(choose(c)), c).toBe('ambiguous underlay: 198.18.0.1 on ul0, 203.0.113.5 on eth1; give --underlay');
    }
  });

  it('a controller on this machine, one global address per family: those', async () => {
    logs.length = 0;
    expect(await choose('unix:/run/visp/controller.sock', undefined, lone)).toEqual(['198.18.0.1', '2001:db8:ff::1']);
    expect(logs[0]).toBe('underlay: 198.18.0.1 on ul0 (the controller is on this machine; it is the node\'s only global IPv4 address)');
    expect(await refusal(choose('unix:/x', undefined, bare))).toBe('underlay: this node has no global address to offer (visp\'s own devices do not count); give --underlay');
  });

  it('no route to the controller is refused with the reason', async () => {
    expect(await refusal(choose('198.51.100.9:7443', undefined, lone))).toBe('underlay: no route to the controller at 198.51.100.9 (ENETUNREACH); give --underlay');
  });

  it('given addresses must be on this node; they are offered as given, IPv4 first', async () => {
    expect(await choose('198.18.0.9:7443', ['2001:db8:1::6', '203.0.113.5'])).toEqual(['203.0.113.5', '2001:db8:1::6']);
    expect(await choose('198.18.0.9:7443', ['2001:db8:ff:0::1'])).toEqual(['2001:db8:ff:0::1']);
    expect(await refusal(choose('198.18.0.9:7443', ['198.18.0.77'], lone)))
      .toBe('underlay: 198.18.0.77 is not an address on this node (it has 198.18.0.1 on ul0, 2001:db8:ff::1 on ul0)');
  });

  it('AgentCore.identity() registers with the chosen underlay', async () => {
    const core = new AgentCore({ netns: ns });
    try {
      expect((await core.identity(undefined, '198.18.0.9:7443')).underlay).toEqual(['198.18.0.1', '2001:db8:ff::1']);
      expect((await core.identity(['203.0.113.5'], '198.18.0.9:7443')).underlay).toEqual(['203.0.113.5']);
      await expect(core.identity()).rejects.toThrow('ambiguous underlay: 198.18.0.1 on ul0, 203.0.113.5 on eth1; give --underlay');
    } finally {
      await core.close();
    }
  });
});
