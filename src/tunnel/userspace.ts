// Userspace tunnels: the kinds visp-engine carries where the kernel has no
// driver (a driver's `engine`: EtherIP always; gre, gretap, ip6gre, ip6gretap
// when ip_gre/ip6_gre are missing).
// The engine creates the device (a TAP for layer 2, a TUN for layer 3) and
// holds its file descriptor; from then on visp treats it like a kernel
// tunnel: marked (alias, group), sized, enslaved or moved, brought up, all
// over netlink. Reading back means the engine's `list`, not the kernel's
// link attributes: to the kernel it is just a `tun` device.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { EngineClient, EngineKind, EngineTunnelSpec, EngineTunnelState } from '../dataplane/engine-client.js';
import { engineBinary } from '../dataplane/engine-process.js';
import { bytesToMac } from '../netlink/codec.js';
import { linkSet } from '../netlink/link.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { aliasOf } from '../ownership.js';
import type { TunnelPlacement } from './ensure.js';
import { kinds, perKind } from './kinds.js';
import type { TunnelKind, TunnelSpec } from './types.js';

/**
 * The engine's kind for each visp kind it can carry (each driver's `engine`;
 * the underlay family is picked by the addresses). Layer 3 is a TUN (GRE
 * protocol type 0x0800/0x86DD by the inner packet), layer 2 a TAP.
 */
export const ENGINE_KINDS: Readonly<Record<TunnelKind, EngineKind | undefined>> = perKind((d) => d.engine);

/** The kernel's IFLA_INFO_KIND of an engine device (TAP and TUN alike). */
export const ENGINE_LINK_KIND = 'tun';

/**
 * Whether this node can run visp-engine: the binary is built and the
 * operator did not turn it off (VISP_ENGINE=off). Undefined when it can;
 * otherwise why not, in words.
 */
export function engineUnavailableReason(): string | undefined {
  if (process.env.VISP_ENGINE === 'off') return 'the userspace engine is turned off (VISP_ENGINE=off)';
  try {
    return existsSync(engineBinary()) ? undefined : 'visp-engine is not built (scripts/build-engine.sh)';
  } catch (e) {
    return (e as Error).message;
  }
}

/** A stable, locally administered unicast MAC for an engine TAP (survives engine restarts). */
export function engineMac(name: string): string {
  const h = createHash('sha256').update(`visp-engine/${name}`).digest();
  return bytesToMac(Buffer.from([(h[0]! & 0xfc) | 0x02, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!]));
}

/** What the engine is asked for, from a resolved userspace tunnel. */
export function engineSpecOf(spec: TunnelSpec): EngineTunnelSpec {
  const d = kinds[spec.kind];
  const kind = d.engine;
  if (!kind) throw new Error(`${spec.kind} has no userspace data plane`);
  return {
    name: spec.name, kind, local: spec.local, remote: spec.remote!,
    // A kind with an identifier always carries it (visp's GRE the key, RFC 2890, as the kernel driver does).
    ...(d.identifier !== 'underlayPair' ? { key: spec.key } : {}),
    underlayMtu: spec.underlayMtu ?? 1500,
    // A TAP's MAC, stable across engine restarts (a layer-3 TUN has none).
    ...(d.layer === 2 ? { mac: engineMac(spec.name) } : {}),
  };
}

const ip = (a: string | null | undefined): string => (a ?? '').toLowerCase();

/** What differs between the spec and the engine's tunnel of that name, in words. Empty: keep it. */
export function diffEngineTunnel(spec: TunnelSpec, have: EngineTunnelState): string[] {
  const want = engineSpecOf(spec);
  const out: string[] = [];
  if (have.kind !== want.kind) out.push(`kind ${have.kind} → ${want.kind}`);
  if (ip(have.local) !== ip(want.local)) out.push(`local ${have.local} → ${want.local}`);
  if (ip(have.remote) !== ip(want.remote)) out.push(`remote ${have.remote} → ${want.remote}`);
  if ((have.key ?? undefined) !== want.key) out.push(`key ${have.key ?? 'unset'} → ${want.key ?? 'unset'}`);
  if (have.underlayMtu !== want.underlayMtu) out.push(`underlay mtu ${have.underlayMtu} → ${want.underlayMtu}`);
  if (want.mac !== undefined && ip(have.mac) !== want.mac) out.push(`mac ${have.mac ?? 'unset'} → ${want.mac}`);
  return out;
}

/**
 * Have the engine create the device, then give it what a kernel tunnel gets
 * at creation: MTU, group, alias, master, no IPv6 link-local on a bridge
 * port, up. The engine creates it down, so the link-local setting lands in time.
 */
export async function createUserspaceTunnel(engine: EngineClient, s: NetlinkSocket, spec: TunnelSpec, p: TunnelPlacement, signal?: AbortSignal): Promise<void> {
  await engine.ensureTunnel(engineSpecOf(spec), signal);
  const what = `userspace ${spec.kind} ${spec.name}`;
  await Promise.all([
    linkSet(s, spec.name, {
      mtu: p.mtu, group: p.mark.group, alias: aliasOf(p.mark),
      ...(p.master !== undefined ? { master: p.master } : {}),
      ...(kinds[spec.kind].layer === 2 ? { noIpv6LinkLocal: true } : {}),
    }, signal, what),
    ...((p.up ?? true) ? [linkSet(s, spec.name, { up: true }, signal, what)] : []),
  ]);
}
