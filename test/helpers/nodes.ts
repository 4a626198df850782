// Kernel-test helpers for link endpoints: a NodeKernel per node namespace,
// ping from an experiment namespace, and a scan for anything left behind.
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointResult } from '../../src/endpoint/node.js';
import { execIn, ipLinks } from './netns.js';

export function ping(ns: string, dst: string, count = 2): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '2', dst], { encoding: 'utf8' });
  return r.status === 0;
}

/** An iperf3 server in `ns`, listening (on 5201) when this resolves; call the result to stop it. */
export async function iperfServer(ns: string): Promise<() => void> {
  const srv = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s'], { stdio: 'ignore' });
  for (let i = 0; !/:5201\b/.test(execIn(ns, 'ss', '-ltnH')); i++) {
    if (i === 100) { srv.kill(); throw new Error(`iperf3 server in ${ns}: not listening after 5 s`); }
    await sleep(50);
  }
  return () => srv.kill();
}

/** ICMP echo requests received in a namespace (/proc/net/snmp, Icmp InEchos): counts duplicates too. */
export function inEchos(ns: string): number {
  const lines = execIn(ns, 'cat', '/proc/net/snmp').split('\n').filter((l) => l.startsWith('Icmp:'));
  const [head, vals] = lines.map((l) => l.split(/\s+/));
  return Number(vals![head!.indexOf('InEchos')]);
}

/**
 * `count` broadcast echo requests from `from` to `bcast`; how many each of
 * `others` received. On a LAN without loops that is `count` each; a frame
 * looping between bridges shows up as more.
 */
export async function broadcastEchoes(from: string, bcast: string, others: readonly string[], count = 20): Promise<number[]> {
  const before = others.map(inEchos);
  execIn(from, 'sh', '-c', `ping -b -c ${count} -i 0.05 -W 1 ${bcast} >/dev/null 2>&1 || true`);
  await sleep(1000);   // copies still looping would arrive after ping returns
  return others.map((ns, i) => inEchos(ns) - before[i]!);
}

/** Throw with every endpoint's error if any failed. */
export function ok(results: EndpointResult[]): EndpointResult[] {
  const bad = results.filter((r) => r.error);
  if (bad.length) throw new Error(bad.map((r) => `${r.slice}/${r.link}: ${r.error!.message}`).join('; '));
  return results;
}

/** Names of links in a namespace that carry a visp alias. */
export const vispLinks = (ns: string): string[] =>
  ipLinks(ns).filter((l) => typeof l.ifalias === 'string' && l.ifalias.startsWith('visp:')).map((l) => l.ifname as string);

export function kernels(...ns: string[]): NodeKernel[] {
  return ns.map((n) => new NodeKernel({ netns: n }));
}

/** A GRE key as iproute2's JSON prints it: a dotted quad ("0.0.0.77") or a number. */
export function greKeyOf(v: unknown): number {
  const s = String(v);
  if (/^\d+$/.test(s)) return Number(s);
  const [a, b, c, d] = s.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}
