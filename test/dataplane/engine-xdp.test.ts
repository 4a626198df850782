// visp-engine's AF_XDP fast path end to end, in namespaces: two nodes on a
// veth underlay (198.18.0.0/24, 2001:db8:ff::/64), one engine per node with
// `--xdp auto` (generic XDP on a veth), the six tunnels of two-nodes.ts
// that engine.test.ts uses too (EtherIP, gretap with key, layer-3 gre with
// key; IPv4 and IPv6 underlay), each device moved into an experiment namespace.
//
// What is checked: the XDP program is attached where the kernel says it is
// (iproute2 is the independent witness), bulk traffic really goes through
// the AF_XDP rings on both sides, malformed packets redirected by XDP are
// dropped and counted exactly as the raw-socket path counts them (plus the
// IPv4 header checks the kernel would have made), what XDP leaves to the
// kernel (IPv4 options, fragments) still reaches the tunnel, the program
// goes away with the last tunnel and with the engine, a raw-socket engine
// (`--xdp off`) interoperates with a fast one, and a changed next-hop MAC is
// followed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineDrops, EngineList, EngineTunnelState } from '../../src/dataplane/engine-client.js';
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import { ipIn, ipLink, kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';
import { inEchos, iperfServer, ping } from '../helpers/nodes.js';
import { within } from '../helpers/wait.js';
import { ACROSS, KEY, KEY6, NAMES, provisionTunnels, sideTunnels, type Side } from './two-nodes.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const FRAMES = join(repo, 'test/dataplane/frames.py');
const pythonSkip = existsSync('/usr/bin/python3') ? undefined : 'the frame sender needs /usr/bin/python3';

/** One iperf3 target per tunnel (IPv6 inside for the IPv6-underlay gre). */
const IPERF: Array<[string, string]> = [['eip0', '192.0.2.2'], ['gt0', '192.0.2.6'], ['eip6', '192.0.2.10'],
  ['gt6', '192.0.2.14'], ['gre0', '192.0.2.18'], ['gre6', '2001:db8:4::2']];

type Counters = Record<string, EngineTunnelState>;

/** The XDP attachment iproute2 reports for a device (undefined: none). */
function xdpOn(ns: string, dev: string): { mode: number; prog?: { id: number } } | undefined {
  return ipLink(ns, dev).xdp as { mode: number; prog?: { id: number } } | undefined;
}

/** Echo replies out of `count` requests (ping's own summary). */
function pingReplies(ns: string, dst: string, count: number, interval = '0.05'): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', interval, '-W', '1', dst], { encoding: 'utf8' });
  const m = / (\d+) received/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

function python(ns: string, ...args: string[]): Record<string, number> {
  const r = spawnSync('ip', ['netns', 'exec', ns, '/usr/bin/python3', FRAMES, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`frames.py ${args[0]}: ${r.status} ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, number>;
}

describe.skipIf(kernelSkipReason)('visp-engine: the AF_XDP fast path on a veth underlay', () => {
  let runDir: string;
  let ul: ReturnType<typeof underlayPair>;
  let xa: string, xb: string;
  const engines: { a?: EngineProcess; b?: EngineProcess } = {};
  let sides: { a: Side[]; b: Side[] };

  async function counters(e: EngineProcess): Promise<Counters> {
    return Object.fromEntries((await e.client.list()).tunnels.map((t) => [t.name, t]));
  }

  /** Every tunnel on both engines sends by the fast path (next hops resolved). */
  async function allFast(): Promise<boolean> {
    for (const e of [engines.a!, engines.b!]) {
      const { tunnels } = await e.client.list();
      if (tunnels.length !== NAMES.length || !tunnels.every((t) => t.fastPath)) return false;
    }
    return true;
  }

  /** Ping every tunnel until it answers (a freshly placed device needs a moment). */
  async function pingAll(dsts: string[], ms = 5000): Promise<void> {
    for (const dst of dsts) expect(await within(() => ping(xa, dst, 1), ms, 0), dst).toBe(true);
  }

  beforeAll(async () => {
    sh('bash', [join(repo, 'scripts/build-engine.sh')]);
    runDir = mkdtempSync(join(tmpdir(), 'visp-xdp-'));
    ul = underlayPair('xdp');
    xa = makeNetns('xdpxa');
    xb = makeNetns('xdpxb');
    sides = { a: sideTunnels(ul, 'a'), b: sideTunnels(ul, 'b') };
    for (const [k, node, exp] of [['a', ul.a, xa], ['b', ul.b, xb]] as const) {
      const e = new EngineProcess({ netns: node, runDir, xdp: 'auto' });
      engines[k] = e;
      await e.start();
      await provisionTunnels(node, exp, e.client, sides[k]);
    }
  });

  afterAll(async () => {
    for (const e of [engines.a, engines.b]) await e?.stop();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  it('attaches the XDP program to the underlay veth in generic mode, one queue, nothing failed', async () => {
    for (const [node, e] of [[ul.a, engines.a!], [ul.b, engines.b!]] as const) {
      const { xdp } = await e.client.list();
      expect(xdp, 'list has no xdp section').toBeDefined();
      expect(xdp!.status).toBe('auto');
      expect(xdp!.failed).toEqual([]);
      expect(xdp!.ports).toHaveLength(1);
      expect(xdp!.ports[0]).toMatchObject({ device: 'ul0', mode: 'generic', queues: 1, rxLost: 0 });
      // All six tunnels leave by ul0 (IPv4 and IPv6 underlay alike).
      expect(xdp!.ports[0]!.tunnels).toBe(NAMES.length);
      // The kernel's view: a program attached in generic (skb) mode, XDP_ATTACHED_SKB = 2.
      const att = xdpOn(node, 'ul0');
      expect(att, `ip -d -j link show ul0 in ${node}: no xdp`).toBeDefined();
      expect(att!.mode).toBe(2);
      expect(att!.prog?.id).toBeGreaterThan(0);
    }
  });

  it('pings and carries iperf3 (2 s each) across EtherIP, gretap and gre over both underlays, through the AF_XDP rings', async () => {
    for (const dst of ACROSS) expect(ping(xa, dst), dst).toBe(true);
    // Next hops are known after the first packets: every tunnel goes fast within a second or so.
    expect(await within(allFast, 3000), 'every tunnel on fastPath').toBe(true);
    const stopServer = await iperfServer(xb);
    const rows: string[] = [];
    try {
      for (const [name, dst] of IPERF) {
        const [a0, b0] = [await counters(engines.a!), await counters(engines.b!)];
        const r = spawnSync('ip', ['netns', 'exec', xa, 'iperf3', '-c', dst, '-t', '2', '-J'], { encoding: 'utf8' });
        expect(r.status, `${r.stdout.slice(-2000)}\n${r.stderr}`).toBe(0);
        const bps = (JSON.parse(r.stdout) as { end: { sum_received?: { bits_per_second: number } } }).end.sum_received?.bits_per_second;
        expect(bps, r.stdout.slice(-2000)).toBeDefined();
        console.log(`iperf3 over ${name} (${dst}), fast path: ${(bps! / 1e9).toFixed(2)} Gbit/s`);
        expect(bps).toBeGreaterThan(10e6);
        const [a1, b1] = [await counters(engines.a!), await counters(engines.b!)];
        const d = (c1: Counters, c0: Counters, f: keyof EngineTunnelState): number => (c1[name]![f] as number) - (c0[name]![f] as number);
        // Data a -> b, ACKs b -> a: each direction's packets, and how many went by XDP at each end.
        const flows = {
          'a tx': [d(a1, a0, 'txXdp'), d(a1, a0, 'txPackets')], 'b rx': [d(b1, b0, 'rxXdp'), d(b1, b0, 'rxPackets')],
          'b tx': [d(b1, b0, 'txXdp'), d(b1, b0, 'txPackets')], 'a rx': [d(a1, a0, 'rxXdp'), d(a1, a0, 'rxPackets')],
        };
        rows.push(`${name}: ${Object.entries(flows).map(([k, [x, all]]) => `${k} ${x}/${all}`).join(', ')}`);
        for (const [k, [x, all]] of Object.entries(flows)) {
          expect(all, `${name} ${k}: packets`).toBeGreaterThan(1000);
          expect(x! / all!, `${name} ${k}: share through XDP (${x}/${all})`).toBeGreaterThanOrEqual(0.9);
        }
        expect(d(a1, a0, 'txDropError'), `${name}: a txDropError`).toBe(0);
      }
    } finally {
      stopServer();
      console.log(`XDP share per tunnel: ${rows.join('; ')}`);
    }
    for (const e of [engines.a!, engines.b!]) {
      const { tunnels, xdp } = await e.client.list();
      for (const t of tunnels) expect(t.fastPath, t.name).toBe(true);
      expect(xdp!.ports[0]!.rxLost).toBe(0);
    }
  });

  it.skipIf(pythonSkip)('drops garbage redirected by XDP and counts it exactly by reason; a bad IPv4 header is badIpHeader; the engine lives on', async () => {
    const N = 50;
    const pid = engines.a!.pid;
    const before = await engines.a!.client.list();
    const echos0 = inEchos(xa);
    const sent = python(ul.b, 'garbage', ul.a4, ul.a6, String(KEY), String(KEY6), String(N));
    const bad = python(ul.b, 'badip', 'ul0', ipLink(ul.a, 'ul0').address, ul.b4, ul.a4, '02:00:00:00:01:01', String(N));
    const want: EngineDrops = {
      truncated: sent.eipTruncated! + sent.eipShortFrame! + sent.greTruncated! + sent.greTruncatedKey! + sent.eipTruncated6!,
      badVersion: sent.eipBadVersion! + sent.greBadVersion! + sent.eipBadVersion6!,
      badFlags: sent.greRouting!,
      badProtocol: sent.greBadProtocol!,
      unknownPeer: 0,
      unknownKey: sent.greUnknownKey! + sent.greNoKey! + sent.greUnknownKey6!,
      badIpHeader: bad.badChecksum! + bad.badLength!,
    };
    expect(bad).toEqual({ badChecksum: N, badLength: N });
    let after: EngineList = before;
    const delta = (): Record<string, number> =>
      Object.fromEntries(Object.keys(want).map((k) => [k, (after.drops[k as keyof EngineDrops] ?? NaN) - (before.drops[k as keyof EngineDrops] ?? NaN)]));
    // Wait until everything sent is counted (or a second passes), then compare exactly.
    const total = Object.values(want).reduce((s, n) => s + n!, 0);
    await within(async () => {
      after = await engines.a!.client.list();
      return Object.values(delta()).reduce((s, n) => s + n, 0) >= total;
    }, 1000);
    await sleep(100);
    after = await engines.a!.client.list();
    console.log(`garbage: sent ${JSON.stringify({ ...sent, ...bad })}; drops counted ${JSON.stringify(delta())}`);
    expect(delta()).toEqual(want);
    // All of it came through the fast path: redirected by XDP, nothing lost in the rings.
    expect(after.xdp!.ports[0]!.rxLost).toBe(0);
    // Nothing reached a tunnel: the bad-header packets carried valid echo requests for a's eip0.
    expect(inEchos(xa) - echos0, 'echo requests from the bad-header packets reached a\'s experiment namespace').toBe(0);
    expect(engines.a!.pid).toBe(pid);
    expect(await engines.a!.client.ping()).toBe(pid);
    expect(pingReplies(xa, '192.0.2.2', 5)).toBe(5);
  });

  it.skipIf(pythonSkip)('leaves IPv4 options and fragments to the kernel: such EtherIP packets still reach the tunnel, by the raw socket', async () => {
    const N = 5;
    const eip0 = async (): Promise<EngineTunnelState> => (await engines.a!.client.list()).tunnels.find((t) => t.name === 'eip0')!;
    const [t0, e0, d0] = [await eip0(), inEchos(xa), (await engines.a!.client.list()).drops];
    // ICMP echo requests from b's eip0 (192.0.2.2) to a's (192.0.2.1, its real MAC): a's stack must answer them.
    const sent = python(ul.b, 'slowpath', ul.a4, ipLink(xa, 'eip0').address, '02:00:00:00:02:01', '192.0.2.2', '192.0.2.1', String(N));
    expect(sent).toEqual({ options: N, fragmented: N });
    // Received by the raw socket, i.e. not through XDP: rxPackets - rxXdp. (Node b's
    // own traffic on eip0 meanwhile, such as its ARP reply to a's stack, comes by XDP.)
    const slow = (t: EngineTunnelState): number => t.rxPackets - t.rxXdp!;
    let t1 = t0;
    await within(async () => { t1 = await eip0(); return slow(t1) - slow(t0) >= 2 * N && inEchos(xa) - e0 >= 2 * N; }, 2000);
    expect(slow(t1) - slow(t0), 'eip0 packets received by the raw socket (rxPackets - rxXdp)').toBe(2 * N);
    expect(inEchos(xa) - e0, 'echo requests received in a\'s experiment namespace').toBe(2 * N);
    const d1 = (await engines.a!.client.list()).drops;
    for (const k of Object.keys(d0) as Array<keyof EngineDrops>) expect(d1[k]! - d0[k]!, `drops.${k}`).toBe(0);
  });

  it.skipIf(pythonSkip)('takes only frames for its device\'s MAC, as the kernel does; follows a change of that MAC', async () => {
    const N = 5;
    // Valid EtherIP frames for a's eip0, but to another host's MAC (a flooding
    // switch, a promiscuous NIC): the kernel drops them, so must the fast path.
    const e0 = inEchos(xa);
    expect(python(ul.b, 'otherhost', 'ul0', '02:00:00:00:99:99', ul.b4, ul.a4, ipLink(xa, 'eip0').address, String(N))).toEqual({ otherhost: N });
    await sleep(300);
    expect(inEchos(xa) - e0, 'echo requests in frames for another MAC reached a\'s experiment namespace').toBe(0);
    // a's underlay MAC changes: the program (which compares it) is reloaded
    // once a tunnel looks again, and received traffic is back on the fast path.
    const reloads = (): number => (readFileSync(engines.a!.logPath, 'utf8').match(/device MAC changed; program reloaded/g) ?? []).length;
    const eip0 = async (): Promise<EngineTunnelState> => (await engines.a!.client.list()).tunnels.find((t) => t.name === 'eip0')!;
    /** Traffic until a reloaded, then until its receiving is by XDP again (b's engine may still use a's old MAC for a second). */
    const reloadedAndFast = async (n0: number): Promise<void> => {
      expect(await within(() => { pingReplies(xa, '192.0.2.2', 2); return reloads() > n0; }, 10_000, 100), 'the program was reloaded').toBe(true);
      let t0 = await eip0();
      const back = await within(async () => {
        pingReplies(xa, '192.0.2.2', 5);
        const t1 = await eip0();
        const fast = t1.rxXdp! - t0.rxXdp! >= 4 && t1.fastPath === true;
        t0 = t1;
        return fast;
      }, 10_000, 100);
      expect(back, 'a receives by XDP again after its MAC changed').toBe(true);
      expect(xdpOn(ul.a, 'ul0')?.prog?.id, 'a program is attached').toBeGreaterThan(0);
    };
    const oldMac = ipLink(ul.a, 'ul0').address;
    const n0 = reloads();
    ipIn(ul.a, 'link', 'set', 'dev', 'ul0', 'address', '02:00:00:00:aa:01');
    try {
      // b learns the new MAC when it resolves again (a veth sends no gratuitous ARP).
      ipIn(ul.b, 'neigh', 'flush', 'dev', 'ul0');
      expect(await within(() => pingReplies(xa, '192.0.2.2', 3) === 3, 15_000, 200)).toBe(true);
      await reloadedAndFast(n0);
    } finally {
      const n1 = reloads();
      ipIn(ul.a, 'link', 'set', 'dev', 'ul0', 'address', oldMac);
      ipIn(ul.b, 'neigh', 'flush', 'dev', 'ul0');
      // The cases after this one start from a fast path on a's original MAC.
      await reloadedAndFast(n1);
    }
  });

  it('a device whose XDP hook is taken: listed as failed with the reason, its tunnel on raw sockets; tried again once the hook is free', async () => {
    // A second engine in node a (its own socket): a's engine holds ul0's XDP hook.
    const dir2 = mkdtempSync(join(tmpdir(), 'visp-xdp2-'));
    const other = new EngineProcess({ netns: ul.a, runDir: dir2, xdp: 'auto' });
    try {
      await other.start();
      await other.client.ensureTunnel({ name: 'eipx', kind: 'etherip', local: ul.a4, remote: '198.18.0.77' });
      let l = await other.client.list();
      expect(l.xdp!.ports).toEqual([]);
      expect(l.xdp!.failed).toEqual([{ device: 'ul0', error: expect.stringMatching(/attach XDP: Device or resource busy/) }]);
      // Its traffic (ARP for a neighbour behind the tunnel) goes by raw sockets.
      ipIn(ul.a, 'addr', 'add', '203.0.113.1/24', 'dev', 'eipx');
      ipIn(ul.a, 'link', 'set', 'eipx', 'up');
      const pinger = spawn('ip', ['netns', 'exec', ul.a, 'ping', '-i', '0.3', '203.0.113.2'], { stdio: 'ignore' });
      try {
        expect(await within(async () => (await other.client.list()).tunnels[0]!.txPackets > 0, 5000), 'eipx sends').toBe(true);
        l = await other.client.list();
        expect(l.tunnels[0]).toMatchObject({ fastPath: false, txXdp: 0 });
        // a's engine lets go of the hook (its last tunnel goes): within the retry interval (10 s) the other attaches.
        for (const name of NAMES) await engines.a!.client.deleteTunnel(name);
        expect(await within(async () => (await other.client.list()).xdp!.ports.length === 1, 15_000, 250), 'attached on retry').toBe(true);
        l = await other.client.list();
        expect(l.xdp!.failed).toEqual([]);
        expect(l.xdp!.ports[0]).toMatchObject({ device: 'ul0', mode: 'generic', tunnels: 1 });
        expect(readFileSync(other.logPath, 'utf8')).toMatch(/fast path on ul0: tried again; program reloaded/);
      } finally {
        pinger.kill();
      }
    } finally {
      await other.stop();
      rmSync(dir2, { recursive: true, force: true });
    }
    // a's engine takes the hook back (the queue the other engine's socket held is released from a work queue: bind waits).
    await provisionTunnels(ul.a, xa, engines.a!.client, sides.a);
    expect((await engines.a!.client.list()).xdp!.ports[0]).toMatchObject({ device: 'ul0', mode: 'generic', tunnels: NAMES.length });
    await pingAll(ACROSS);
    expect(await within(allFast, 3000), 'every tunnel on fastPath again').toBe(true);
  });

  it('detaches XDP from ul0 when its last tunnel is deleted, attaches again with the next one', async () => {
    const a = engines.a!.client;
    const progBefore = xdpOn(ul.a, 'ul0')!.prog!.id;
    for (const name of NAMES.slice(0, -1)) {
      await a.deleteTunnel(name);
      // Still used by the remaining tunnels: still attached.
      expect(xdpOn(ul.a, 'ul0')?.prog?.id, `after deleting ${name}`).toBe(progBefore);
    }
    await a.deleteTunnel(NAMES.at(-1)!);
    expect((await a.list()).tunnels).toEqual([]);
    expect(xdpOn(ul.a, 'ul0'), 'XDP still attached to ul0 after the last tunnel went').toBeUndefined();
    const { xdp } = await a.list();
    expect(xdp!.ports).toEqual([]);
    expect(xdp!.failed).toEqual([]);
    // Added again (and placed again: the devices went with the tunnels): attached again, forwards fast.
    await provisionTunnels(ul.a, xa, a, sides.a);
    const again = await a.list();
    expect(again.xdp!.ports).toHaveLength(1);
    expect(again.xdp!.ports[0]).toMatchObject({ device: 'ul0', mode: 'generic', queues: 1, tunnels: NAMES.length });
    expect(xdpOn(ul.a, 'ul0')?.mode).toBe(2);
    await pingAll(ACROSS);
    expect(await within(allFast, 3000), 'every tunnel on fastPath again').toBe(true);
    const t0 = (await counters(engines.a!)).eip0!;
    expect(pingReplies(xa, '192.0.2.2', 10)).toBe(10);
    const t1 = (await counters(engines.a!)).eip0!;
    expect(t1.txXdp! - t0.txXdp!).toBeGreaterThanOrEqual(8);
    expect(t1.rxXdp! - t0.rxXdp!).toBeGreaterThanOrEqual(8);
  });

  it('leaves no XDP program behind when the engine stops; an engine with --xdp off interoperates with a fast peer', async () => {
    expect(xdpOn(ul.b, 'ul0')).toBeDefined();
    await engines.b!.stop();
    expect(xdpOn(ul.b, 'ul0'), 'XDP still attached to b\'s ul0 after the engine stopped').toBeUndefined();
    // Node b now runs on raw sockets alone.
    const off = new EngineProcess({ netns: ul.b, runDir, xdp: 'off' });
    engines.b = off;
    await off.start();
    await provisionTunnels(ul.b, xb, off.client, sides.b);
    const { xdp } = await off.client.list();
    expect(xdp!.status.startsWith('off')).toBe(true);
    expect(xdp!.ports).toEqual([]);
    expect(xdpOn(ul.b, 'ul0')).toBeUndefined();
    // EtherIP and gretap, IPv4 and IPv6 underlay, IPv4 and IPv6 inside.
    const mixed = ['192.0.2.2', '2001:db8:1::2', '192.0.2.6', '2001:db8:2::2', '192.0.2.10', '192.0.2.14'];
    await pingAll(mixed);
    const [a0, b0] = [await counters(engines.a!), await counters(off)];
    for (const dst of mixed) expect(pingReplies(xa, dst, 10), dst).toBe(10);
    const [a1, b1] = [await counters(engines.a!), await counters(off)];
    for (const name of ['eip0', 'gt0', 'eip6', 'gt6']) {
      // a sends and receives by XDP, b by its raw sockets only.
      expect(a1[name]!.fastPath, name).toBe(true);
      expect(a1[name]!.txXdp! - a0[name]!.txXdp!, `${name}: a txXdp`).toBeGreaterThanOrEqual(8);
      expect(a1[name]!.rxXdp! - a0[name]!.rxXdp!, `${name}: a rxXdp`).toBeGreaterThanOrEqual(8);
      expect(b1[name]!.rxPackets - b0[name]!.rxPackets, `${name}: b rxPackets`).toBeGreaterThanOrEqual(10);
      expect(b1[name]).toMatchObject({ fastPath: false, txXdp: 0, rxXdp: 0 });
    }
  });

  it('follows a changed next-hop MAC: ping across EtherIP recovers within 15 s, by the fast path again', async () => {
    // Node b runs on raw sockets now (the test before): its kernel drops
    // frames sent to its old MAC, as a real NIC would (b's own XDP program
    // would take them whatever their destination MAC, hiding a stale one).
    // b announces the change (gratuitous ARP, unsolicited NA), so a's kernel
    // learns the new MAC at once; the engine must follow the kernel.
    const oldMac = ipLink(ul.b, 'ul0').address;
    const newMac = '02:00:00:00:0b:42';
    expect(oldMac).not.toBe(newMac);
    expect(await within(async () => (await counters(engines.a!)).eip0!.fastPath === true, 3000)).toBe(true);
    sh('ip', ['netns', 'exec', ul.b, 'sysctl', '-q', '-w', 'net.ipv4.conf.ul0.arp_notify=1', 'net.ipv6.conf.ul0.ndisc_notify=1']);
    ipIn(ul.b, 'link', 'set', 'dev', 'ul0', 'address', newMac);
    const t0 = Date.now();
    for (const dst of ['192.0.2.2', '192.0.2.10']) {
      // Recovered: 20 echo requests in a row all answered (a tunnel still
      // sending to the old MAC would get only its once-a-second raw probe through).
      const ok = await within(() => pingReplies(xa, dst, 20, '0.02') === 20, 15_000 - (Date.now() - t0), 0);
      console.log(`after the MAC change: ${dst} answers all of 20 pings after ${Date.now() - t0} ms`);
      expect(ok, `${dst}: not recovered within 15 s of the MAC change`).toBe(true);
    }
    const neigh = JSON.parse(ipIn(ul.a, '-j', 'neigh', 'show', 'dev', 'ul0')) as Array<{ dst: string; lladdr?: string }>;
    expect(neigh.find((n) => n.dst === ul.b4)?.lladdr).toBe(newMac);
    const c0 = await counters(engines.a!);
    expect(pingReplies(xa, '192.0.2.2', 20, '0.02')).toBe(20);
    expect(pingReplies(xa, '192.0.2.10', 20, '0.02')).toBe(20);
    const c1 = await counters(engines.a!);
    for (const name of ['eip0', 'eip6']) {
      expect(c1[name]!.fastPath, name).toBe(true);
      expect(c1[name]!.txXdp! - c0[name]!.txXdp!, `${name}: a txXdp after the change`).toBeGreaterThanOrEqual(17);
    }
  }, 30_000);
});
