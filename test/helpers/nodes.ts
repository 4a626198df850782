// Kernel-test helpers for link endpoints: a NodeKernel per node namespace,
// ping from an experiment namespace, and a scan for anything left behind.
import { spawnSync } from 'node:child_process';
import { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointResult } from '../../src/endpoint/node.js';
import { ipLinks } from './netns.js';

export function ping(ns: string, dst: string, count = 2): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '2', dst], { encoding: 'utf8' });
  return r.status === 0;
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
