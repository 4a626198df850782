// The host side of the VM lane's GRE interop (test/vm/interop-gre.test.ts is
// the guest side; lane.sh runs both). Runs on the host, outside the VM, in
// the namespace where qemu's tap device lives: visp's userspace GRE (the
// engine in that namespace, built through NodeKernel exactly as an agent
// builds it) faces the stock Debian kernel's ip_gre/ip6_gre in the guest.
//
//   node --import tsx test/vm/interop-host.ts --netns NS --out DIR [--tap vmtap0]
//
// Protocol over DIR (the guest's writable 9p share, /run/vmout inside):
//   host-ready.json   written here once the host side is up (its data planes)
//   guest-ready       written by the guest once its kernel tunnels are up
//   host-result.json  written here: pings host → guest, iperf3 host → guest, the engine's counters
//   guest-done        written by the guest when it has read the result
// Exit code 0 when every ping from the host side went through.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { capabilities, NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { INTEROP_LINKS, interopSpec, UNDERLAY } from './interop-links.js';

const { values } = parseArgs({ options: { netns: { type: 'string' }, out: { type: 'string' }, tap: { type: 'string' }, 'timeout-s': { type: 'string' } } });
if (!values.netns || !values.out) {
  process.stderr.write('usage: interop-host.ts --netns NS --out DIR [--tap vmtap0] [--timeout-s 600]\n');
  process.exit(2);
}
const NS = values.netns;
const OUT = values.out;
const TAP = values.tap ?? 'vmtap0';
const deadline = Date.now() + Number(values['timeout-s'] ?? 600) * 1000;
const log = (m: string): void => { process.stdout.write(`interop-host: ${m}\n`); };
const ip = (...a: string[]): string => {
  const r = spawnSync('ip', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
};

async function until(what: string, cond: () => boolean): Promise<void> {
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const exp = `${NS}x`;
const runDir = mkdtempSync(join(tmpdir(), 'visp-interop-'));
const kernel = new NodeKernel({ netns: NS, engine: { runDir } });
let failed = false;
try {
  // qemu creates the tap when it starts; give it the host's underlay addresses.
  await until(`${TAP} in ${NS}`, () => spawnSync('ip', ['-n', NS, 'link', 'show', 'dev', TAP]).status === 0);
  ip('-n', NS, 'addr', 'add', `${UNDERLAY.host.v4}/24`, 'dev', TAP);
  ip('-n', NS, '-6', 'addr', 'add', `${UNDERLAY.host.v6}/64`, 'dev', TAP, 'nodad');
  ip('-n', NS, 'link', 'set', TAP, 'up');

  const caps = await capabilities();
  const specs: EndpointSpec[] = INTEROP_LINKS.map((l) => interopSpec(l, 'host', exp));
  const results = await kernel.reconcile(specs);
  const bad = results.filter((r) => r.error);
  if (bad.length) throw new Error(bad.map((r) => `${r.link}: ${r.error!.message}`).join('; '));
  const dataplanes = Object.fromEntries(INTEROP_LINKS.map((l) => [l.kind, caps[l.kind].dataplane ?? 'none']));
  log(`host side up in ${NS}: ${INTEROP_LINKS.map((l) => `${l.kind} (${dataplanes[l.kind]})`).join(', ')}`);
  writeFileSync(join(OUT, 'host-ready.json'), JSON.stringify({ dataplanes, hostKernelHasGre: caps.gretap.dataplane === 'kernel' }));

  await until('the guest side', () => existsSync(join(OUT, 'guest-ready')));
  const pings: Record<string, boolean> = {};
  for (const l of INTEROP_LINKS) {
    const dst = l.guestAddr.split('/')[0]!;
    // The guest may still be resolving our MAC: a few tries, like a person would.
    let okNow = false;
    for (let i = 0; i < 5 && !okNow; i++) {
      okNow = spawnSync('ip', ['netns', 'exec', exp, 'ping', '-c', '3', '-i', '0.2', '-W', '2', dst]).status === 0;
    }
    pings[`${l.kind} ${dst}`] = okNow;
    log(`ping ${dst} across ${l.kind} from the host: ${okNow ? 'ok' : 'FAILED'}`);
    if (!okNow) failed = true;
  }
  // TCP across the GRE kinds: the engine's TSO segmentation and receive
  // coalescing against the kernel's GRE (an iperf3 server runs in the guest).
  const tcp: Record<string, number> = {};
  for (const l of INTEROP_LINKS) {
    const dst = l.guestAddr.split('/')[0]!;
    // The guest's server takes one test at a time ("busy" until the last one is wrapped up): retry that.
    let bps = 0, why = '';
    for (let i = 0; i < 10 && !bps; i++) {
      if (i) await sleep(500);
      const r = spawnSync('ip', ['netns', 'exec', exp, 'iperf3', '-c', dst, '-t', '2', '-J'], { encoding: 'utf8', timeout: 60_000 });
      try {
        const j = JSON.parse(r.stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
        bps = j.end?.sum_received?.bits_per_second ?? 0;
        why = j.error ?? '';
      } catch { why = (r.stderr || r.stdout).slice(-300); }
    }
    tcp[`${l.kind} ${dst}`] = bps;
    log(`iperf3 to ${dst} across ${l.kind} from the host: ${bps ? `${(bps / 1e6).toFixed(0)} Mbit/s` : `FAILED ${why}`}`);
    if (!(bps > 0)) failed = true;
  }
  const engine = kernel.engine();
  const listed = engine?.pid ? await engine.client.list() : undefined;
  const counters = listed ? listed.tunnels.map((t) => ({ name: t.name, kind: t.kind, tx: t.txPackets, rx: t.rxPackets, txXdp: t.txXdp, rxXdp: t.rxXdp })) : [];
  // Which underlay path faced the guest's kernel: the fast path (XDP on qemu's tap) or raw sockets.
  if (listed?.xdp) {
    const ports = listed.xdp.ports.map((p) => `${p.device} ${p.mode}`).join(', ') || 'none';
    const failedOn = listed.xdp.failed.map((f) => `${f.device}: ${f.error}`).join('; ');
    log(`engine fast path: ${listed.xdp.status}; ports ${ports}${failedOn ? `; not attached: ${failedOn}` : ''}; ` +
      counters.map((c) => `${c.kind} tx ${c.txXdp ?? 0}/${c.tx} rx ${c.rxXdp ?? 0}/${c.rx} by XDP`).join(', '));
  }
  writeFileSync(join(OUT, 'host-result.json'), JSON.stringify({ pings, tcp, counters, xdp: listed?.xdp }));
  await until('the guest to finish', () => existsSync(join(OUT, 'guest-done')));
} catch (e) {
  failed = true;
  log(`FAILED: ${(e as Error).message}`);
  try { writeFileSync(join(OUT, 'host-result.json'), JSON.stringify({ error: (e as Error).message })); } catch { /* the share may be gone */ }
} finally {
  await kernel.stopEngine().catch(() => undefined);
  kernel.close();
  spawnSync('ip', ['netns', 'del', exp]);
  rmSync(runDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
