// visp-engine on an underlay whose MTU is smaller than the engine was told
// (issue 12, "Path MTU"): two nodes on a veth underlay with MTU 1400, the six
// tunnels of two-nodes.ts given no underlay MTU (so the engine assumes 1500,
// as visp did everywhere before nodes reported theirs), node a on raw sockets,
// node b on the AF_XDP fast path. Before the engine learnt the path MTU it
// sent full-size packets into EMSGSIZE and dropped them silently: ping with
// DF got no answer and TCP stalled. Now the engine finds the route's MTU and
// answers what does not fit as a kernel tunnel does: ICMP "fragmentation
// needed" (IPv4 with DF) or ICMPv6 "packet too big", with the inner MTU the
// path leaves, into the experiment; counted as tooBig.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineTunnelState } from '../../src/dataplane/engine-client.js';
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import { ipIn, kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';
import { ping } from '../helpers/nodes.js';
import { provisionTunnels, sideTunnels, type Side } from './two-nodes.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const pythonSkip = existsSync('/usr/bin/python3') ? undefined : 'the TCP transfer needs /usr/bin/python3';
const UNDERLAY = 1400;
/** The underlay shrunk under running tunnels; still above IPv6's 1280 for every inner packet tried. */
const SHRUNK = 1340;
/** Node a's end of a tunnel, from b's (host 2 → host 1). */
const aEnd = (b: string): string => b.replace(/(\d+)$/, (h) => String(Number(h) - 1));

/** Each tunnel's overhead (outer IP + header + inner Ethernet on a TAP) and a far address per inner family. */
const CASES = [
  { name: 'eip0', overhead: 20 + 2 + 14, v4: '192.0.2.2', v6: '2001:db8:1::2' },
  { name: 'gt0', overhead: 20 + 8 + 14, v4: '192.0.2.6', v6: '2001:db8:2::2' },
  { name: 'eip6', overhead: 40 + 2 + 14, v4: '192.0.2.10' },
  { name: 'gt6', overhead: 40 + 8 + 14, v4: '192.0.2.14' },
  { name: 'gre0', overhead: 20 + 8, v4: '192.0.2.18', v6: '2001:db8:3::2' },
  { name: 'gre6', overhead: 40 + 8, v4: '192.0.2.22', v6: '2001:db8:4::2' },
] as const;

/** ping -M do with an IP packet of `size` bytes; the MTU it was told, or 'ok' when the echo came back. */
function pingDf(ns: string, dst: string, size: number): string {
  const v6 = dst.includes(':');
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', ...(v6 ? ['-6'] : []), '-c', '1', '-W', '2', '-M', 'do', '-s', String(size - (v6 ? 48 : 28)), dst], { encoding: 'utf8' });
  const out = r.stdout + r.stderr;
  if (r.status === 0) return 'ok';
  // From the engine: "Frag needed and DF set (mtu = N)", "Packet too big: mtu=N"; once the stack has learnt it: "message too long, mtu=N".
  const m = /Frag needed and DF set \(mtu = (\d+)\)|Packet too big: mtu=(\d+)|message too long, mtu[:=] ?(\d+)/.exec(out);
  return m ? `mtu ${m[1] ?? m[2] ?? m[3]}` : `no answer: ${out.trim()}`;
}

describe.skipIf(kernelSkipReason)('visp-engine: path MTU on a 1400-byte underlay', () => {
  let runDir: string;
  let ul: ReturnType<typeof underlayPair>;
  let xa: string, xb: string;
  const engines: EngineProcess[] = [];
  let sides: { a: Side[]; b: Side[] };
  const state = async (e: EngineProcess): Promise<Record<string, EngineTunnelState>> =>
    Object.fromEntries((await e.client.list()).tunnels.map((t) => [t.name, t]));

  beforeAll(async () => {
    sh('bash', [join(repo, 'scripts/build-engine.sh')]);
    runDir = mkdtempSync(join(tmpdir(), 'visp-pmtu-'));
    ul = underlayPair('pm');
    for (const n of [ul.a, ul.b]) ipIn(n, 'link', 'set', 'ul0', 'mtu', String(UNDERLAY));
    xa = makeNetns('pmxa');
    xb = makeNetns('pmxb');
    sides = { a: sideTunnels(ul, 'a'), b: sideTunnels(ul, 'b') };
    for (const [node, exp, list] of [[ul.a, xa, sides.a], [ul.b, xb, sides.b]] as const) {
      const e = new EngineProcess({ netns: node, runDir, xdp: node === ul.a ? 'off' : 'auto' });
      engines.push(e);
      await e.start();
      await provisionTunnels(node, exp, e.client, list);
    }
  }, 60_000);

  afterAll(async () => {
    for (const e of engines) await e.stop();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  it('finds the path MTU (the route\'s device, 1400) below the underlay MTU it was told (1500)', async () => {
    for (const e of engines) {
      const s = await state(e);
      for (const c of CASES) expect(s[c.name], c.name).toMatchObject({ underlayMtu: 1500, mtu: 1500 - c.overhead, pathMtu: UNDERLAY, tooBig: 0 });
    }
  });

  it.skipIf(pythonSkip)('carries a TCP stream across every kind and inner family: PMTU discovery works through the engine (b, the fast path, answers)', async () => {
    let port = 5400;
    for (const c of CASES) {
      // From b to a's end: b's stack knows no smaller path yet, so its connection starts at the device MTU.
      for (const dst of [c.v4, ...('v6' in c ? [c.v6] : [])].map(aEnd)) {
        const before = (await state(engines[1]!))[c.name]!.tooBig!;
        const recv = spawn('ip', ['netns', 'exec', xa, '/usr/bin/python3', join(repo, 'test/dataplane/bytes.py'), 'recv', String(++port)],
          { stdio: ['ignore', 'pipe', 'pipe'] });
        try {
          let out = '';
          recv.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
          for (let i = 0; i < 100 && !out.includes('listening'); i++) await sleep(50);
          const send = spawnSync('ip', ['netns', 'exec', xb, '/usr/bin/python3', join(repo, 'test/dataplane/bytes.py'), 'send', dst, String(port), '8'],
            { encoding: 'utf8', timeout: 30_000 });
          expect(send.status, `${c.name} ${dst}: ${send.stderr}`).toBe(0);
          await new Promise((r) => (recv.exitCode !== null ? r(null) : recv.once('exit', r)));
          expect(out.trim().split('\n').at(-1), `${c.name} ${dst}`).toBe(send.stdout.trim());
        } finally {
          recv.kill();
        }
        // The first full-size segments were answered, not lost.
        expect((await state(engines[1]!))[c.name]!.tooBig!, `${c.name} ${dst}`).toBeGreaterThan(before);
      }
    }
  }, 120_000);

  it('answers a DF packet above the path MTU with the MTU the path leaves, every kind and inner family (a, raw sockets, answers)', async () => {
    for (const c of CASES) {
      const mtu = UNDERLAY - c.overhead;
      for (const dst of [c.v4, ...('v6' in c ? [c.v6] : [])]) {
        expect(pingDf(xa, dst, mtu), `${c.name} ${dst} at the path MTU`).toBe('ok');
        expect(pingDf(xa, dst, mtu + 1), `${c.name} ${dst} one byte above`).toBe(`mtu ${mtu}`);
      }
    }
    const a = await state(engines[0]!), b = await state(engines[1]!);
    for (const c of CASES) {
      const answered = 'v6' in c ? 2 : 1;
      expect(a[c.name]!.tooBig, c.name).toBe(answered);
      expect(a[c.name]!.txDropOversize, c.name).toBe(answered);
      // Nothing went to the underlay only to be refused there.
      expect(a[c.name]!.txDropError, c.name).toBe(0);
      expect(b[c.name]!.txDropError, c.name).toBe(0);
    }
  });

  it('follows the path when it shrinks under running tunnels, and when it grows back', async () => {
    try {
      for (const n of [ul.a, ul.b]) ipIn(n, 'link', 'set', 'ul0', 'mtu', String(SHRUNK));
      // The stacks still believe 1400: their first packet goes to the engine, which finds the underlay refusing it
      // (EMSGSIZE on a's raw socket, the device MTU on b's fast path) or sees the new MTU at its next look; then it answers.
      for (const [ns, dst, name, overhead] of [[xa, '192.0.2.2', 'eip0', 36], [xb, '192.0.2.5', 'gt0', 42], [xa, '2001:db8:3::2', 'gre0', 28]] as const) {
        let got = '';
        for (let i = 0; i < 20 && got !== `mtu ${SHRUNK - overhead}`; i++) {
          got = pingDf(ns, dst, UNDERLAY - overhead);
          if (got !== `mtu ${SHRUNK - overhead}`) await sleep(250);
        }
        expect(got, `${name} ${dst}`).toBe(`mtu ${SHRUNK - overhead}`);
        expect(pingDf(ns, dst, SHRUNK - overhead), `${name} ${dst} at the new path MTU`).toBe('ok');
      }
      expect((await state(engines[0]!)).eip0!.pathMtu).toBe(SHRUNK);
    } finally {
      for (const n of [ul.a, ul.b]) ipIn(n, 'link', 'set', 'ul0', 'mtu', String(UNDERLAY));
    }
    // Grown back: a tunnel that sends is looked at again within a second.
    let path = 0;
    for (let i = 0; i < 20 && path !== UNDERLAY; i++) {
      ping(xa, '192.0.2.2', 1);
      path = (await state(engines[0]!)).eip0!.pathMtu!;
      if (path !== UNDERLAY) await sleep(250);
    }
    expect(path).toBe(UNDERLAY);
  }, 60_000);
});
