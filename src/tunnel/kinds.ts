// The registered kinds as data: the lists and lookups the controller, the
// API edge, the topology parser and the agent derive from the drivers'
// descriptors, so that a fact about a kind is written once, in its driver.
// Loading this loads the driver files and the netlink codec they encode
// with (pure functions over Buffers), never a socket.
import type { KindDescriptor } from './driver.js';
import { drivers, type TunnelKind } from './registry.js';

/** Every kind's descriptor: the drivers, seen as data only. */
export const kinds: { readonly [K in TunnelKind]: KindDescriptor<K> } = drivers;

/** Every registered kind, in registry order. */
export const TUNNEL_KINDS: readonly TunnelKind[] = Object.values(kinds).map((d) => d.kind);

export const isTunnelKind = (v: unknown): v is TunnelKind => typeof v === 'string' && Object.hasOwn(kinds, v);

/** A value for every kind, as a record the compiler knows is complete. */
export function perKind<R>(f: (d: KindDescriptor<TunnelKind>) => R): Record<TunnelKind, R> {
  const out: Partial<Record<TunnelKind, R>> = {};
  for (const k of TUNNEL_KINDS) out[k] = f(kinds[k]);
  return out as Record<TunnelKind, R>; // every kind was just set
}

/** The kinds `auto` may pick, best first (by each driver's autoRank). */
export const AUTO_ORDER: readonly TunnelKind[] = TUNNEL_KINDS
  .flatMap((k) => { const r = kinds[k].autoRank; return r === undefined ? [] : [{ k, r }]; })
  .sort((a, b) => a.r - b.r)
  .map((x) => x.k);

/** Whether an encapsulation (a kind, or 'auto') is a layer-3 kind: point-to-point only, and never on a bridge. */
export const isLayer3 = (encapsulation: string): boolean => isTunnelKind(encapsulation) && kinds[encapsulation].layer === 3;

/** The layer-2 kinds, in registry order: what a LAN or an egress link (which ends on a bridge) may use. */
export const LAYER2_KINDS: readonly TunnelKind[] = TUNNEL_KINDS.filter((k) => kinds[k].layer === 2);

/** The layer-2 kinds that run over an underlay of this family (0: any), for "use … instead". */
export const layer2KindsOver = (family: 0 | 4 | 6): TunnelKind[] =>
  LAYER2_KINDS.filter((k) => family === 0 || kinds[k].family === 0 || kinds[k].family === family);

/** What the identifier is called in messages: "VNI" or "key" (a kind without one carries key 0). */
export const keyWord = (k: TunnelKind): string => (kinds[k].identifier === 'vni' ? 'VNI' : 'key');

/** "a, b or c". */
export function wordsOr(words: readonly string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}
