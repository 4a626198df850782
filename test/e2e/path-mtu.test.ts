// Path MTU end to end (issue 12): a lab whose underlay is 1400 bytes (the
// nodes' ul0, set in the test's own namespaces before the agents start),
// driven through the gRPC API. The agents report 1400 at Register, so:
// - Allocate refuses an MTU the path cannot carry (INVALID_ARGUMENT on
//   topology.links[i].mtu, with the figures); the default link MTU is
//   1400 minus each kind's overhead, in the manifest and on the experiment's
//   interfaces, for EtherIP, gretap, gre (visp-engine on this kernel) and
//   VXLAN (kernel).
// - ping -M do one byte above the link MTU is refused with that MTU; a TCP
//   transfer completes across each kind.
// - The underlay shrinks to 1340 under the running slice: a DF packet at the
//   old link MTU is answered "fragmentation needed" / "packet too big" with
//   the MTU the path now leaves, by the engine for EtherIP, gretap and gre
//   (its tooBig counter counts them) and by the kernel for VXLAN.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import { ipIn, kernelSkipReason, sh } from '../helpers/netns.js';
import { AgentProcesses, Lab, p2p, sleep, stripLen, type Manifest } from './support.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const pythonSkip = existsSync('/usr/bin/python3') ? undefined : 'the TCP transfer needs /usr/bin/python3';
const UNDERLAY = 1400;
const SHRUNK = 1340;
const LINKS = [
  { id: 'eip', enc: 'ENCAPSULATION_ETHERIP', overhead: 36, engine: true, kind: 'etherip' },
  { id: 'gt', enc: 'ENCAPSULATION_GRETAP', overhead: 42, engine: true, kind: 'gretap' },
  { id: 'gre', enc: 'ENCAPSULATION_GRE', overhead: 28, engine: true, kind: 'gre' },
  { id: 'vx', enc: 'ENCAPSULATION_VXLAN', overhead: 50, engine: false, kind: undefined },
] as const;

/** ping -M do with an IP packet of `size` bytes: 'ok', or the MTU the sender was told (by ICMP or by its own stack). */
function pingDf(ns: string, dst: string, size: number): string {
  const v6 = dst.includes(':');
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', ...(v6 ? ['-6'] : []), '-c', '1', '-W', '2', '-M', 'do', '-s', String(size - (v6 ? 48 : 28)), dst], { encoding: 'utf8' });
  if (r.status === 0) return 'ok';
  const out = r.stdout + r.stderr;
  const m = /Frag needed and DF set \(mtu = (\d+)\)|Packet too big: mtu=(\d+)|message too long, mtu[:=] ?(\d+)/.exec(out);
  return m ? `mtu ${m[1] ?? m[2] ?? m[3]}` : `no answer: ${out.trim()}`;
}

describe.skipIf(kernelSkipReason)('e2e: path MTU on a 1400-byte underlay', () => {
  // Agents as processes (visp agent under nsenter), as in userspace-tunnels.test.ts: each runs its node's visp-engine.
  const lab = new Lab('pm', ['n1', 'n2'], { agents: [] });
  const agents = new AgentProcesses(lab);
  /** The engine of a node: an agent not in a named namespace names it by the namespace's inode. */
  const engineOf = (node: string): EngineProcess => new EngineProcess({ netns: `ns${statSync(`/run/netns/${lab.node(node).ns}`).ino}`, enter: false });
  let slice: string;
  let m: Manifest;
  const ends = (id: string): { a: Manifest['slivers'][number]['endpoints'][number]; b: Manifest['slivers'][number]['endpoints'][number] } => {
    const s = m.slivers.find((x) => x.link === id)!;
    return { a: s.endpoints.find((e) => e.physicalNode === 'n1')!, b: s.endpoints.find((e) => e.physicalNode === 'n2')! };
  };
  /** The engine's tunnels by kind (one of each in this slice; a gre TUN is renamed in the experiment, so not by name). */
  const engineCounters = async (node: string): Promise<Record<string, { tooBig: number; pathMtu: number }>> => {
    const e = engineOf(node);
    try {
      if (!(await e.adopt())) return {};
      return Object.fromEntries((await e.client.list()).tunnels.map((t) => [t.kind, { tooBig: t.tooBig ?? 0, pathMtu: t.pathMtu ?? 0 }]));
    } finally { e.release(); }
  };

  beforeAll(async () => {
    sh('bash', [`${REPO}/scripts/build-engine.sh`]);
    await lab.start();
    for (const n of lab.nodes) ipIn(n.ns, 'link', 'set', 'ul0', 'mtu', String(UNDERLAY));
    await Promise.all(lab.nodes.map((n) => agents.start(n.name)));
    await lab.waitConnected(['n1', 'n2']);
    slice = lab.slice('pm');
  }, 60_000);
  afterAll(async () => {
    await agents.stopAll();
    for (const n of lab.nodes) {
      const e = engineOf(n.name);
      if (await e.adopt()) await e.stop();
      rmSync(e.logPath, { force: true });
    }
    await lab.close();
  });

  const topology = (mtu?: number) => ({
    nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }],
    links: LINKS.map((l, i) => p2p(l.id, 'r1', 'r2', { encapsulation: l.enc, ...(mtu && i === 0 ? { mtu } : {}) })),
  });

  it('Allocate refuses an MTU the 1400-byte path cannot carry, with the field and the figures', async () => {
    const e = await lab.api.links.allocate({ slice, topology: topology(1400) }).then(() => undefined, (x: { code: number; details: string }) => x);
    expect(e?.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(e?.details).toBe('topology.links[0].mtu: 1400 does not fit: etherip over IPv4 leaves at most 1364 (the underlay MTU 1400 of node n1 at 198.18.0.1 minus 36)');
  });

  it('link MTUs follow the underlay: manifest and interfaces; one byte more is refused with that MTU', async () => {
    await lab.api.links.allocate({ slice, topology: topology() });
    await lab.api.links.provision({ slice });
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 30_000);
    for (const l of LINKS) {
      const mtu = UNDERLAY - l.overhead;
      expect(m.slivers.find((s) => s.link === l.id)!.mtu, l.id).toBe(mtu);
      const { a, b } = ends(l.id);
      const dev = JSON.parse(ipIn(a.netns, '-j', 'link', 'show', 'dev', a.ifname)) as Array<{ mtu: number }>;
      expect(dev[0]!.mtu, l.id).toBe(mtu);
      for (const dst of b.addresses.map(stripLen)) {
        expect(pingDf(a.netns, dst, mtu), `${l.id} ${dst} at the link MTU`).toBe('ok');
        expect(pingDf(a.netns, dst, mtu + 1), `${l.id} ${dst} one byte more`).toBe(`mtu ${mtu}`);
      }
    }
  }, 60_000);

  it.skipIf(pythonSkip)('a TCP transfer completes across each kind', async () => {
    let port = 5500;
    for (const l of LINKS) {
      const { a, b } = ends(l.id);
      const recv = spawn('ip', ['netns', 'exec', b.netns, '/usr/bin/python3', `${REPO}/test/dataplane/bytes.py`, 'recv', String(++port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let out = '';
        recv.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
        for (let i = 0; i < 100 && !out.includes('listening'); i++) await sleep(50);
        const send = spawnSync('ip', ['netns', 'exec', a.netns, '/usr/bin/python3', `${REPO}/test/dataplane/bytes.py`, 'send', stripLen(b.addresses[0]!), String(port), '8'],
          { encoding: 'utf8', timeout: 30_000 });
        expect(send.status, `${l.id}: ${send.stderr}`).toBe(0);
        await new Promise((r) => (recv.exitCode !== null ? r(null) : recv.once('exit', r)));
        expect(out.trim().split('\n').at(-1), l.id).toBe(send.stdout.trim());
      } finally {
        recv.kill();
      }
    }
  }, 120_000);

  it('the underlay shrinks under the slice: DF packets at the old MTU are answered with the new one, by the engine and by kernel VXLAN', async () => {
    const before = await engineCounters('n1');
    try {
      for (const n of lab.nodes) ipIn(n.ns, 'link', 'set', 'ul0', 'mtu', String(SHRUNK));
      for (const l of LINKS) {
        const { a, b } = ends(l.id);
        const want = `mtu ${SHRUNK - l.overhead}`;
        for (const dst of b.addresses.map(stripLen)) {
          let got = '';
          for (let i = 0; i < 20 && got !== want; i++) {
            got = pingDf(a.netns, dst, UNDERLAY - l.overhead);
            if (got !== want) await sleep(250);
          }
          expect(got, `${l.id} ${dst}`).toBe(want);
          expect(pingDf(a.netns, dst, SHRUNK - l.overhead), `${l.id} ${dst} at the new path MTU`).toBe('ok');
        }
      }
      const after = await engineCounters('n1');
      for (const l of LINKS.filter((x) => x.engine)) {
        const name = l.kind!;
        expect(after[name], `${l.id}: ${name} among ${Object.keys(after).join(', ')}`).toBeDefined();
        expect(after[name]!.pathMtu, l.id).toBe(SHRUNK);
        expect(after[name]!.tooBig - (before[name]?.tooBig ?? 0), l.id).toBeGreaterThanOrEqual(1);
      }
    } finally {
      for (const n of lab.nodes) ipIn(n.ns, 'link', 'set', 'ul0', 'mtu', String(UNDERLAY));
    }
  }, 90_000);
});
