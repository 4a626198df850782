// Two slices on the same three nodes, same topology shape (a point-to-point
// link and a 3-member LAN, dual-stack, VXLAN): their address space, keys and
// groups never overlap, each works on its own, and traffic of one never
// reaches the other — not by routing (A cannot ping B's addresses, even with
// routes that push the packets onto A's links) and not on the wire (while A
// floods unicast, broadcast, multicast and ARP onto its links, the packet
// counters of B's interfaces and tunnel devices on the same nodes stay put).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipIn, kernelSkipReason } from '../helpers/netns.js';
import { baseline, counters, Lab, lan, overlap, p2p, pingAsync, pingNeighbours, stripLen, tornDown, v4broadcast, waitFor, within, type Manifest, type NsSnapshot } from './support.js';

describe.skipIf(kernelSkipReason)('e2e: two slices on the same nodes are isolated', () => {
  const lab = new Lab('iso', ['n1', 'n2', 'n3']);
  let before: Map<string, NsSnapshot>;
  let A: Manifest, B: Manifest;
  const topology = {
    nodes: [1, 2, 3].map((i) => ({ id: `r${i}`, node: `n${i}` })),
    links: [p2p('p12', 'r1', 'r2'), lan('lan', ['r1', 'r2', 'r3'])],
  };

  beforeAll(async () => {
    await lab.start();
    before = baseline(lab);
    for (const s of [lab.slice('a'), lab.slice('b')]) {
      await lab.api.links.allocate({ slice: s, topology });
      await lab.api.links.provision({ slice: s });
    }
    A = await lab.waitState(lab.slice('a'), 'OPERATIONAL_STATE_READY');
    B = await lab.waitState(lab.slice('b'), 'OPERATIONAL_STATE_READY');
  });
  afterAll(async () => { await lab.close(); });

  const ep = (m: Manifest, link: string, node: string) => m.slivers.find((s) => s.link === link)!.endpoints.find((e) => e.node === node)!;
  const addr = (m: Manifest, link: string, node: string, fam: 4 | 6): string => stripLen(ep(m, link, node).addresses.find((a) => isIP(stripLen(a)) === fam)!);

  it('their blocks, subnets, addresses, keys, groups, namespaces and devices do not overlap (manifests)', async () => {
    const a = (await lab.api.links.describe({ slice: A.slice })).manifest!;
    const b = (await lab.api.links.describe({ slice: B.slice })).manifest!;
    expect(a.blocks).toHaveLength(2);
    expect(b.blocks).toHaveLength(2);
    for (const x of a.blocks) for (const y of b.blocks) expect(overlap(x.prefix, y.prefix), `${x.prefix} vs ${y.prefix}`).toBe(false);
    const subnets = (m: Manifest): string[] => m.slivers.flatMap((s) => [s.ipv4Subnet, s.ipv6Subnet]);
    for (const [m, other] of [[a, b], [b, a]] as const) {
      // Each slice's subnets lie in its own blocks, and overlap none of the other's.
      for (const s of subnets(m)) {
        expect(m.blocks.some((bl) => within(s, bl.prefix)), `${s} in ${m.slice}'s blocks`).toBe(true);
        for (const o of subnets(other)) expect(overlap(s, o), `${s} vs ${o}`).toBe(false);
      }
    }
    const addrs = (m: Manifest): string[] => m.slivers.flatMap((s) => s.endpoints.flatMap((e) => e.addresses.map(stripLen)));
    expect(addrs(a).filter((x) => addrs(b).includes(x))).toEqual([]);
    const keys = (m: Manifest): number[] => m.slivers.map((s) => s.key);
    expect(new Set([...keys(a), ...keys(b)]).size).toBe(4);
    expect(a.groupId).not.toBe(b.groupId);
    const nss = (m: Manifest): string[] => m.slivers.flatMap((s) => s.endpoints.map((e) => e.netns));
    expect(nss(a).filter((x) => nss(b).includes(x))).toEqual([]);
    const devs = (m: Manifest): string[] => m.slivers.flatMap((s) => s.endpoints.flatMap((e) => [e.bridge, ...e.tunnels].filter(Boolean)));
    expect(devs(a).filter((x) => devs(b).includes(x))).toEqual([]);
  });

  it('each slice works on its own: every neighbour pings every neighbour, IPv4 and IPv6', async () => {
    expect(await pingNeighbours(A)).toEqual([]);
    expect(await pingNeighbours(B)).toEqual([]);
  });

  it("pings from A to B's addresses fail, even when routed onto A's own links", async () => {
    const jobs: Array<Promise<[string, boolean]>> = [];
    for (const link of ['p12', 'lan']) {
      for (const to of link === 'p12' ? ['r1', 'r2'] : ['r1', 'r2', 'r3']) {
        for (const fam of [4, 6] as const) {
          const from = to === 'r1' ? 'r2' : 'r1';
          const dst = addr(B, link, to, fam);
          jobs.push(pingAsync(ep(A, link, from).netns, dst, 1, 1).then((ok) => [`${from}@A → ${dst} (${link}@B ${to})`, ok]));
        }
      }
    }
    expect((await Promise.all(jobs)).filter(([, ok]) => ok)).toEqual([]);

    // Now push them onto A's wire: B's subnets "on link" of A's interfaces.
    const routes: Array<[string, string, string]> = [];
    for (const link of ['p12', 'lan']) {
      const e = ep(A, link, 'r1');
      const sl = B.slivers.find((s) => s.link === link)!;
      for (const subnet of [sl.ipv4Subnet, sl.ipv6Subnet]) routes.push([e.netns, subnet, e.ifname]);
    }
    for (const [ns, subnet, dev] of routes) ipIn(ns, 'route', 'add', subnet, 'dev', dev);
    try {
      const onWire = await Promise.all([
        pingAsync(ep(A, 'p12', 'r1').netns, addr(B, 'p12', 'r2', 4), 1, 1),
        pingAsync(ep(A, 'p12', 'r1').netns, addr(B, 'p12', 'r2', 6), 1, 1),
        pingAsync(ep(A, 'lan', 'r1').netns, addr(B, 'lan', 'r3', 4), 1, 1),
        pingAsync(ep(A, 'lan', 'r1').netns, addr(B, 'lan', 'r2', 6), 1, 1),
      ]);
      expect(onWire).toEqual([false, false, false, false]);
    } finally {
      for (const [ns, subnet, dev] of routes) ipIn(ns, 'route', 'del', subnet, 'dev', dev);
    }
  });

  it("while A floods its links, none of A's frames reaches B's interfaces or tunnels on the same nodes, and their counters stay put", async () => {
    // Every interface of B: experiment side (netns/ifname) and node side (tunnel devices).
    const bIfaces: Array<[string, string]> = [];
    // A frame sent on a VXLAN LAN's one device leaves once per member (head-end replication), and is counted so.
    const replicas = new Map<string, number>();
    for (const s of B.slivers) {
      for (const e of s.endpoints) {
        bIfaces.push([e.netns, e.ifname]);
        for (const t of e.tunnels) {
          bIfaces.push([lab.node(e.physicalNode).ns, t]);
          replicas.set(`${lab.node(e.physicalNode).ns}:${t}`, e.tunnels.length === 1 ? e.remotes.length : 1);
        }
      }
    }
    // Controls: A's own tunnels and the underlay, which must see A's frames.
    const controls: Array<[string, string]> = lab.nodes.map((n) => [n.ns, 'ul0']);
    for (const s of A.slivers) for (const e of s.endpoints) for (const t of e.tunnels) controls.push([lab.node(e.physicalNode).ns, t]);
    const aSinks: Array<[string, string]> = [[ep(A, 'p12', 'r2').netns, ep(A, 'p12', 'r2').ifname], [ep(A, 'lan', 'r3').netns, ep(A, 'lan', 'r3').ifname]];
    const read = (list: Array<[string, string]>): number[] => list.map(([ns, i]) => { const c = counters(ns, i); return c.rx + c.tx; });

    // A's pings carry a marker in their payload (ping -p); a sniffer on each
    // interface counts the frames that carry it.
    const marker = randomBytes(8).toString('hex');
    const byNs = new Map<string, string[]>();
    for (const [ns, i] of [...bIfaces, ...controls]) byNs.set(ns, [...(byNs.get(ns) ?? []), i]);
    const sniffers = await Promise.all([...byNs].map(([ns, ifs]) => sniff(ns, marker, ifs)));
    const b0 = read(bIfaces);
    const a0 = read(aSinks);

    const N = 300;
    const r1p = ep(A, 'p12', 'r1'), r1l = ep(A, 'lan', 'r1');
    const lanSubnet = A.slivers.find((s) => s.link === 'lan')!.ipv4Subnet;
    const fast = ['-p', marker, '-s', '120', '-i', '0.002'];
    // Unicast across the p2p link (v4 + v6) and the LAN; then, with the LAN's
    // neighbour cache flushed (ARP broadcasts), LAN broadcast and all-nodes multicast.
    try {
      await Promise.all([
        fastPing(r1p.netns, [...fast, '-c', String(N), addr(A, 'p12', 'r2', 4)]),
        fastPing(r1p.netns, [...fast, '-c', String(N), addr(A, 'p12', 'r2', 6)]),
        fastPing(r1l.netns, [...fast, '-c', String(N), addr(A, 'lan', 'r3', 4)]),
      ]);
      ipIn(r1l.netns, 'neigh', 'flush', 'dev', r1l.ifname);
      await Promise.all([
        fastPing(r1l.netns, [...fast, '-b', '-c', '50', v4broadcast(lanSubnet)]),
        fastPing(r1l.netns, [...fast, '-6', '-c', '50', `ff02::1%${r1l.ifname}`]),
      ]);
    } finally {
      for (const s of sniffers) s.stop();
    }
    const seen = new Map<string, { marked: number; total: number; probes: number }>();
    for (const [k, r] of await Promise.all(sniffers.map(async (s) => [s.ns, await s.result] as const))) {
      for (const i of Object.keys(r.marked)) seen.set(`${k}:${i}`, { marked: r.marked[i]!, total: r.total[i]!, probes: r.probes[i]! });
    }
    // A's sinks and the controls saw the traffic (hundreds of frames) …
    const a1 = read(aSinks);
    expect(a1[0]! - a0[0]!, "A's p12 at r2").toBeGreaterThanOrEqual(2 * N * 2);
    expect(a1[1]! - a0[1]!, "A's lan at r3").toBeGreaterThanOrEqual(N * 2 + 50);
    for (const [ns, i] of controls) expect(seen.get(`${ns}:${i}`)!.marked, `control ${ns}:${i}`).toBeGreaterThan(0);
    // … and not one of A's frames appeared on any of B's interfaces or tunnels …
    const leaked = bIfaces.map(([ns, i]) => [`${ns}:${i}`, seen.get(`${ns}:${i}`)!.marked] as const).filter(([, n]) => n > 0);
    expect(leaked).toEqual([]);
    // … whose counters moved by at most B's own IPv6 housekeeping (router
    // solicitations and MLD reports, a few per interface) and, on B's tunnel
    // devices, B's own link health probes (counted by the sniffer), never by A's hundreds.
    const b1 = read(bIfaces);
    const moved = bIfaces.map(([ns, i], k) => [`${ns}:${i}`, b1[k]! - b0[k]! - seen.get(`${ns}:${i}`)!.probes * (replicas.get(`${ns}:${i}`) ?? 1)] as const).filter(([, d]) => d >= 30);
    expect(moved).toEqual([]);
  });

  it('deleting A leaves B working; deleting B leaves nothing behind', async () => {
    await lab.api.links.delete({ slice: A.slice });
    await waitFor('A torn down', () => lab.experimentNamespaces().every((ns) => !ns.startsWith(`visp-${A.slice}:`)), 10_000);
    expect((await lab.api.links.status({ slice: B.slice })).manifest!.operationalState).toBe('OPERATIONAL_STATE_READY');
    expect(await pingNeighbours(B)).toEqual([]);
    await lab.api.links.delete({ slice: B.slice });
    expect(await tornDown(lab, before, 10_000)).toEqual([]);
  });
});

interface Sniffer { ns: string; stop(): void; result: Promise<{ marked: Record<string, number>; total: Record<string, number>; probes: Record<string, number> }> }

/** Start test/e2e/fixtures/sniff.py in a namespace; resolves once its packet sockets are bound. */
function sniff(ns: string, marker: string, ifnames: string[]): Promise<Sniffer> {
  const p = spawn('ip', ['netns', 'exec', ns, 'python3', SNIFF, marker, ...ifnames], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const result = new Promise<{ marked: Record<string, number>; total: Record<string, number>; probes: Record<string, number> }>((resolve, reject) => {
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as { marked: Record<string, number>; total: Record<string, number>; probes: Record<string, number> });
      else reject(new Error(`sniffer in ${ns} exited ${code}: ${err}`));
    });
  });
  result.catch(() => undefined);
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (out.startsWith('ready')) { clearInterval(t); resolve({ ns, stop: () => p.stdin.end(), result }); }
      if (p.exitCode !== null) { clearInterval(t); reject(new Error(`sniffer in ${ns} exited ${p.exitCode}: ${err}`)); }
    }, 20);
  });
}
const SNIFF = fileURLToPath(new URL('./fixtures/sniff.py', import.meta.url));

/** A burst of pings (root may go below 0.2 s intervals); the outcome is read from the counters. */
function fastPing(ns: string, args: string[]): Promise<void> {
  return new Promise<void>((resolve) => execFile('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-W', '1', ...args], () => resolve()));
}
