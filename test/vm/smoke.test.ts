// Smoke test of the VM lane (test/vm/lane.sh): proves the guest is a different
// kernel than the host's and that the kernel GRE family works there, with
// plain `ip` (no visp code), so a lane failure is not a visp bug.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const ip = (...args: string[]): string => sh('ip', args);
const inNs = (ns: string, ...args: string[]): string => sh('ip', ['-n', ns, ...args]);

interface LinkJson {
  ifname: string;
  stats64?: { tx: { packets: number }; rx: { packets: number } };
  linkinfo?: { info_kind: string; info_data?: Record<string, unknown> };
}
function link(ns: string, dev: string, stats = false): LinkJson {
  const out = JSON.parse(inNs(ns, '-d', '-j', ...(stats ? ['-s'] : []), 'link', 'show', 'dev', dev));
  return out[0] as LinkJson;
}
// iproute2 prints GRE keys as dotted quads ("0.0.0.101"); newer ones may print numbers.
function keyOf(v: unknown): number {
  if (typeof v === 'number') return v;
  const s = String(v);
  if (/^\d+$/.test(s)) return Number(s);
  const p = s.split('.').map(Number);
  expect(p).toHaveLength(4);
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}
function ping(ns: string, addr: string): void {
  // -c 1 -w 5: one reply within 5 s (iputils and busybox ping agree on these).
  sh('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-w', '5', addr]);
}

describe('VM lane', () => {
  it('runs in the guest kernel, not the host one', () => {
    const host = process.env.VISP_HOST_KERNEL;
    expect(process.env.VISP_VM).toBe('1');
    expect(host, 'VISP_HOST_KERNEL from the lane').toBeTruthy();
    expect(release()).not.toBe(host);
    expect(release()).toBe(process.env.VISP_GUEST_KERNEL);
    expect(readFileSync('/proc/cmdline', 'utf8')).toContain(`visp.host_uname=${host}`);
    expect(sh('uname', ['-r']).trim()).toBe(release());
  });
});

describe('kernel GRE family in the guest', () => {
  const tag = `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
  const A = `vispvm-${tag}-a`;
  const B = `vispvm-${tag}-b`;
  // Underlay (veth between the two namespaces): 198.18.0.0/15, 2001:db8::/32.
  const u4 = { a: '198.18.0.1', b: '198.18.0.2' };
  const u6 = { a: '2001:db8:ff::1', b: '2001:db8:ff::2' };
  // name, kind, underlay, key, experiment /30 in 192.0.2.0/24 (a = .n+1, b = .n+2)
  const tunnels = [
    { dev: 'vgre', kind: 'gre', six: false, key: 101, net: 0 },
    { dev: 'vgretap', kind: 'gretap', six: false, key: 102, net: 4 },
    { dev: 'vip6gre', kind: 'ip6gre', six: true, key: 103, net: 8 },
    { dev: 'vip6gretap', kind: 'ip6gretap', six: true, key: 104, net: 12 },
  ] as const;

  beforeAll(() => {
    ip('netns', 'add', A);
    ip('netns', 'add', B);
    inNs(A, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0', 'netns', B);
    for (const [ns, side] of [[A, 'a'], [B, 'b']] as const) {
      inNs(ns, 'link', 'set', 'lo', 'up');
      inNs(ns, 'addr', 'add', `${u4[side]}/30`, 'dev', 'u0');
      inNs(ns, 'addr', 'add', `${u6[side]}/64`, 'dev', 'u0', 'nodad');
      inNs(ns, 'link', 'set', 'u0', 'up');
    }
  });

  afterAll(() => {
    const errors: string[] = [];
    for (const ns of [A, B]) {
      try {
        ip('netns', 'del', ns);
      } catch (e) {
        errors.push(`${ns}: ${(e as Error).message}`);
      }
    }
    const left = ip('netns', 'list');
    expect(left).not.toContain(A);
    expect(left).not.toContain(B);
    expect(errors).toEqual([]);
  });

  it('creates gre, gretap, ip6gre and ip6gretap with keys and reads them back', () => {
    for (const [ns, me, peer] of [[A, 'a', 'b'], [B, 'b', 'a']] as const) {
      for (const t of tunnels) {
        const u = t.six ? u6 : u4;
        inNs(ns, 'link', 'add', t.dev, 'type', t.kind,
          'local', u[me], 'remote', u[peer], 'key', String(t.key));
        const l = link(ns, t.dev);
        expect(l.linkinfo?.info_kind).toBe(t.kind);
        const d = l.linkinfo?.info_data ?? {};
        expect(keyOf(d.ikey), `${t.kind} ikey`).toBe(t.key);
        expect(keyOf(d.okey), `${t.kind} okey`).toBe(t.key);
        expect(d.local).toBe(u[me]);
        expect(d.remote).toBe(u[peer]);
      }
    }
  });

  it.each(tunnels.map((t) => [t.kind, t] as const))('pings across %s', (_kind, t) => {
    const addr = (side: 'a' | 'b') => `192.0.2.${t.net + (side === 'a' ? 1 : 2)}`;
    for (const [ns, side] of [[A, 'a'], [B, 'b']] as const) {
      inNs(ns, 'addr', 'add', `${addr(side)}/30`, 'dev', t.dev);
      inNs(ns, 'link', 'set', t.dev, 'up');
    }
    const before = link(A, t.dev, true).stats64!.tx.packets;
    ping(A, addr('b'));
    ping(B, addr('a'));
    // The replies came through the tunnel, not around it.
    expect(link(A, t.dev, true).stats64!.tx.packets).toBeGreaterThan(before);
    expect(link(B, t.dev, true).stats64!.rx.packets).toBeGreaterThan(0);
  });
});
