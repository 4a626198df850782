// Tunnel devices: create, compare with the spec, delete. The composition
// into a link endpoint (bridge, veth, namespace) lives in endpoint/.
import { linkAdd, linkDel, linkSet, type Link } from '../netlink/link.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { aliasOf, type Mark } from '../ownership.js';
import { keyWord } from './kinds.js';
import { drivers } from './registry.js';
import type { TunnelAttrs, TunnelSpec } from './types.js';

export interface TunnelPlacement {
  mtu: number;
  mark: Mark;
  /** Bridge ifindex (layer 2). */
  master?: number;
  up?: boolean;
}

export const describeTunnel = (s: TunnelSpec): string =>
  `${s.dataplane === 'userspace' ? 'userspace ' : ''}${s.kind} ${s.name} (${keyWord(s.kind).toLowerCase()} ${s.key}${s.remote ? `, ${s.local} → ${s.remote}` : `, local ${s.local}`})`;

/**
 * What differs between the spec and a kernel link of the same name, in
 * words ("key 4711 → 4712"). Empty: the device matches and is kept.
 * Only the kind-specific settings are compared here; MTU, master and up are
 * adjustable in place and belong to the endpoint's plan.
 */
export function diffTunnel(spec: TunnelSpec, link: Link): string[] {
  const d = drivers[spec.kind];
  if (link.kind !== d.linkKind) return [`kind ${link.kind ?? 'none'} → ${d.linkKind}`];
  const want = d.expected(spec);
  const have = d.decode(link.infoData);
  const out: string[] = [];
  for (const k of Object.keys(want) as Array<keyof TunnelAttrs>) {
    if (want[k] !== have[k]) out.push(`${k} ${String(have[k] ?? 'unset')} → ${String(want[k])}`);
  }
  if (have.remote !== undefined && want.remote === undefined) out.push(`remote ${have.remote} → unset`);
  return out;
}

export async function createTunnel(s: NetlinkSocket, spec: TunnelSpec, p: TunnelPlacement, signal?: AbortSignal): Promise<void> {
  const d = drivers[spec.kind];
  if (!d.linkKind) d.encode(spec); // throws the driver's "not available" error
  const what = describeTunnel(spec);
  // Create and mark in one datagram: the kernel ignores IFLA_IFALIAS on
  // create, so the alias is a follow-up set addressed by name.
  // Created down; then marked, with no IPv6 link-local (a node-side port must
  // not speak into the experiment's link), then up: one datagram.
  const up = p.up ?? true;
  await Promise.all([
    linkAdd(s, { name: spec.name, kind: d.linkKind!, data: d.encode(spec), mtu: p.mtu, group: p.mark.group,
      ...(p.master !== undefined ? { master: p.master } : {}), up: false }, signal, what),
    linkSet(s, spec.name, { alias: aliasOf(p.mark), ...(d.layer === 2 ? { noIpv6LinkLocal: true } : {}) }, signal, what),
    ...(up ? [linkSet(s, spec.name, { up: true }, signal, what)] : []),
  ]);
}

export async function deleteTunnel(s: NetlinkSocket, name: string, signal?: AbortSignal): Promise<void> {
  await linkDel(s, { name }, signal);
}
