// GRE interop, the guest side: the stock Debian kernel's gretap, ip6gretap,
// gre and ip6gre (built through NodeKernel, kernel data plane) against
// visp's userspace engine on the host (test/vm/interop-host.ts, run by
// lane.sh outside the VM, in the namespace holding qemu's tap). Pings go
// both ways: from here to the host's engine devices, and from the host to
// here (its result comes back over the vmout share). Proves our GRE is the
// GRE Linux speaks. Runs only in the lane's network mode (VISP_VM_NET=1).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilities, NodeKernel } from '../../src/endpoint/node.js';
import { makeNetns, sh } from '../helpers/netns.js';
import { ok, ping } from '../helpers/nodes.js';
import { INTEROP_LINKS, interopSpec, UNDERLAY } from './interop-links.js';

const OUT = process.env.VISP_VM_OUT ?? '/run/vmout';
const skip = process.env.VISP_VM_NET === '1' ? undefined : 'not in the VM lane\'s network mode (VISP_VM_NET=1)';
if (skip) console.warn(`SKIP: ${skip}`);

async function until<T>(what: string, get: () => T | undefined, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(skip)('GRE interop: kernel GRE here ↔ visp-engine on the host, over qemu\'s tap', () => {
  let K: NodeKernel;
  let exp: string;
  let nic: string;
  let iperf: ChildProcess | undefined;

  beforeAll(async () => {
    // The virtio NIC (no udev here to load its driver).
    spawnSync('/sbin/modprobe', ['virtio_net']);
    // The one Ethernet device without a link kind (gretap0 and friends, created when ip_gre loaded, have one).
    nic = await until('the virtio NIC', () => (JSON.parse(sh('ip', ['-d', '-j', 'link', 'show'])) as Array<{ ifname: string; link_type: string; linkinfo?: unknown }>)
      .find((l) => l.address === '52:54:00:9a:00:02')?.ifname, 20_000);
    sh('ip', ['addr', 'add', `${UNDERLAY.guest.v4}/24`, 'dev', nic]);
    sh('ip', ['-6', 'addr', 'add', `${UNDERLAY.guest.v6}/64`, 'dev', nic, 'nodad']);
    sh('ip', ['link', 'set', nic, 'up']);
    exp = makeNetns('iop');
    K = new NodeKernel({ engine: false });
  });
  afterAll(async () => {
    try { writeFileSync(join(OUT, 'guest-done'), ''); } catch { /* share gone */ }
    iperf?.kill();
    await K?.deleteSlice(9301, exp ? [exp] : []);
    K?.close();
  });

  it('the guest has the kernel GRE family (kernel data plane); the host side says which plane it used', async () => {
    const caps = await capabilities();
    for (const l of INTEROP_LINKS) expect(caps[l.kind], l.kind).toMatchObject({ supported: true, dataplane: 'kernel' });
    const host = await until('the host side', () => existsSync(join(OUT, 'host-ready.json'))
      ? JSON.parse(readFileSync(join(OUT, 'host-ready.json'), 'utf8')) as { dataplanes: Record<string, string>; hostKernelHasGre: boolean } : undefined);
    console.log(`host side data planes: ${JSON.stringify(host.dataplanes)}`);
    // A host without ip_gre (this one) runs every one of them in visp-engine; one with it would test kernel against kernel.
    for (const l of INTEROP_LINKS) expect(host.dataplanes[l.kind], l.kind).toBe(host.hostKernelHasGre ? 'kernel' : 'userspace');
  });

  it('guest → host: ping across gretap, ip6gretap, gre and ip6gre (IPv4 inside)', async () => {
    ok(await K.reconcile(INTEROP_LINKS.map((l) => interopSpec(l, 'guest', exp))));
    // The host side runs iperf3 clients against this server, one link after another.
    iperf = spawn('ip', ['netns', 'exec', exp, 'iperf3', '-s'], { stdio: 'ignore' });
    await until('the iperf3 server', () => /:5201\b/.test(sh('ip', ['netns', 'exec', exp, 'ss', '-ltnH'])) ? true : undefined, 30_000);
    writeFileSync(join(OUT, 'guest-ready'), '');
    for (const l of INTEROP_LINKS) {
      const dst = l.hostAddr.split('/')[0]!;
      let okNow = false;
      for (let i = 0; i < 5 && !okNow; i++) okNow = ping(exp, dst, 3);
      expect(okNow, `${l.kind}: ping ${dst}`).toBe(true);
    }
  });

  it('host → guest: the host side pinged across each of them and carried TCP (iperf3, 2 s) across each', async () => {
    const r = await until('the host side\'s result', () => existsSync(join(OUT, 'host-result.json'))
      ? JSON.parse(readFileSync(join(OUT, 'host-result.json'), 'utf8')) as { pings?: Record<string, boolean>; tcp?: Record<string, number>; counters?: unknown; error?: string } : undefined, 240_000);
    console.log(`host side: ${JSON.stringify(r)}`);
    expect(r.error).toBeUndefined();
    expect(Object.keys(r.pings!)).toHaveLength(INTEROP_LINKS.length);
    for (const [what, okNow] of Object.entries(r.pings!)) expect(okNow, what).toBe(true);
    expect(Object.keys(r.tcp!)).toHaveLength(INTEROP_LINKS.length);
    for (const [what, bps] of Object.entries(r.tcp!)) expect(bps, what).toBeGreaterThan(1e6);
  });
});
