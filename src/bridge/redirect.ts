// The join of a point-to-point link endpoint without a bridge: each of its
// two node-side devices (the tunnel and the host end of the experiment's
// veth) redirects every frame that comes in on it out of the other, with a
// tc filter at its clsact ingress hook (u32 matching everything, mirred
// egress redirect). Why not a bridge: a bridge with two ports is a wire
// anyway, and the kernel deletes a bridge only after an rcu_barrier() under
// RTNL (its multicast teardown), ~18 ms each on this machine, which made
// tearing down a big lab take minutes. A redirect costs nothing to delete.
//
// The health probes (ethertype 0x88B5, src/health) stay off the wire
// between the two: a filter ahead of the redirect, for that ethertype only,
// ends classification without an action, so the frame goes up the stack of
// the device it came in on. On the tunnel that is where the node's probe
// socket reads it (it is bound to the device); on the veth it is the node
// namespace's stack, which has no use for it and drops it, so an experiment
// cannot send a probe into the tunnel. A VLAN-tagged frame carrying that
// ethertype inside is classified by its tag's ethertype and crosses like
// any other frame; the far end's probe socket takes untagged frames only
// (native/pktsock.c), so it never counts as a probe or an answer.
//
// Only cls_u32 and act_mirred are used: every kernel visp runs on has them
// (the host kernel here has no matchall, flower or gact).
import { attr, nested, parseAttrs, readStr, readU32, str, u32 } from '../netlink/codec.js';
import { PROBE_ETHERTYPE } from '../netlink/packet.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { qdiscDel } from '../netlink/tc.js';
import { CLSACT, clsactEnsure, ETH_P_ALL, filterAdd, filterList, type Filter } from '../netlink/tc-filter.js';

/** linux/pkt_cls.h: TCA_U32_*, TC_U32_TERMINAL; linux/tc_act/tc_mirred.h; TCA_ACT_*. */
const U32 = { CLASSID: 1, LINK: 3, SEL: 5, ACT: 7 } as const;
const TC_U32_TERMINAL = 1;
const ACT = { KIND: 1, OPTIONS: 2 } as const;
const MIRRED_PARMS = 2;
const TCA_EGRESS_REDIR = 1;
const TC_ACT_STOLEN = 4;

/** The two filters each side gets, by priority. */
export const PRIO = { probes: 1, redirect: 2 } as const;
/** The class the probe filter names: any will do (clsact has no classes); it only makes the match final. */
const PROBE_CLASS = 0x00010001;

/** struct tc_u32_sel with one key matching every frame (mask 0): 16 bytes, then the key's 16. */
function selectAll(): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt8(TC_U32_TERMINAL, 0);
  b.writeUInt8(1, 2);   // nkeys
  return b;
}

/** struct tc_mirred: tc_gen (index, capab, action, refcnt, bindcnt), eaction, ifindex. */
function mirredTo(ifindex: number): Buffer {
  const p = Buffer.alloc(28);
  p.writeInt32LE(TC_ACT_STOLEN, 8);
  p.writeInt32LE(TCA_EGRESS_REDIR, 20);
  p.writeUInt32LE(ifindex >>> 0, 24);
  return nested(U32.ACT, [nested(1, [attr(ACT.KIND, str('mirred')), nested(ACT.OPTIONS, [attr(MIRRED_PARMS, p)])])]);
}

/** The filters on `index`'s ingress that join it to `peer` (exported for the decoder's tests). */
export function joinFilters(index: number, peer: number): Array<Parameters<typeof filterAdd>[1]> {
  return [
    { index, parent: CLSACT.ingress, prio: PRIO.probes, protocol: PROBE_ETHERTYPE, kind: 'u32', options: Buffer.concat([attr(U32.SEL, selectAll()), attr(U32.CLASSID, u32(PROBE_CLASS))]) },
    { index, parent: CLSACT.ingress, prio: PRIO.redirect, protocol: ETH_P_ALL, kind: 'u32', options: Buffer.concat([attr(U32.SEL, selectAll()), mirredTo(peer)]) },
  ];
}

/**
 * Join `index` to `peer` (one direction; call it for both devices). With
 * `rebuild`, whatever is at the device's clsact goes first (a stale or
 * foreign filter). The messages share a datagram.
 */
export async function joinOneWay(s: NetlinkSocket, index: number, peer: number, rebuild: boolean, signal?: AbortSignal, what?: string): Promise<void> {
  if (rebuild) await qdiscDel(s, { index, parent: CLSACT.parent }, signal, what);
  await Promise.all([clsactEnsure(s, index, signal, what), ...joinFilters(index, peer).map((f) => filterAdd(s, f, signal, what))]);
}

/** Undo a join: the clsact qdisc goes, with its filters (the device is about to be a bridge port, say). */
export async function unjoin(s: NetlinkSocket, index: number, signal?: AbortSignal, what?: string): Promise<void> {
  await qdiscDel(s, { index, parent: CLSACT.parent }, signal, what);
}

/** What one filter at a device's ingress does, as far as a join is concerned. */
export interface IngressRule { prio: number; protocol: number; kind: string; final: boolean; classid?: number; redirectTo?: number; actions: number }

/** Decode a u32 filter's options; undefined for a hash-table entry (no selector) or another classifier. */
export function decodeRule(f: Filter): IngressRule | undefined {
  if (f.kind !== 'u32' || !f.options) return f.kind === 'u32' ? undefined : { prio: f.prio, protocol: f.protocol, kind: f.kind, final: false, actions: 0 };
  const o = parseAttrs(f.options);
  const sel = o.get(U32.SEL);
  if (!sel) return undefined;
  const rule: IngressRule = { prio: f.prio, protocol: f.protocol, kind: 'u32', final: (sel.readUInt8(0) & TC_U32_TERMINAL) !== 0, actions: 0 };
  const cls = readU32(o.get(U32.CLASSID));
  if (cls !== undefined) rule.classid = cls;
  // A selector that is not "every frame" is not ours: a key with a mask, or at an offset a frame may not reach, or a link to another table.
  const nkeys = sel.readUInt8(2);
  for (let k = 0; k < nkeys; k++) {
    const at = 16 + 16 * k;
    if (sel.length < at + 16 || sel.readUInt32LE(at) !== 0 || sel.readInt32LE(at + 8) !== 0) rule.final = false;
  }
  if (o.has(U32.LINK)) rule.final = false;
  const acts = o.get(U32.ACT);
  for (const a of acts ? parseAttrs(acts).values() : []) {
    rule.actions++;
    const x = parseAttrs(a);
    const parms = readStr(x.get(ACT.KIND)) === 'mirred' ? parseAttrs(x.get(ACT.OPTIONS) ?? Buffer.alloc(0)).get(MIRRED_PARMS) : undefined;
    // A redirect that steals the frame; one whose verdict lets it go on as well (pipe, pass) copies it up the node's stack.
    if (parms && parms.length >= 28 && parms.readInt32LE(20) === TCA_EGRESS_REDIR && parms.readInt32LE(8) === TC_ACT_STOLEN) rule.redirectTo = parms.readUInt32LE(24);
  }
  return rule;
}

/** The rules at a device's ingress (its clsact's), or undefined when it has no clsact. */
export async function readIngress(s: NetlinkSocket, index: number, signal?: AbortSignal): Promise<IngressRule[]> {
  return (await filterList(s, index, CLSACT.ingress, signal)).map(decodeRule).filter((r): r is IngressRule => !!r);
}

/**
 * How a device's ingress differs from a join to `peer` ([]: joined as
 * wanted). `rules` undefined: the device has no clsact.
 */
export function joinProblems(rules: readonly IngressRule[] | undefined, peer: number): string[] {
  if (!rules) return ['not joined'];
  const probes = rules.filter((r) => r.prio === PRIO.probes);
  const redirect = rules.filter((r) => r.prio === PRIO.redirect);
  const why: string[] = [];
  const p = probes[0];
  if (probes.length !== 1 || !p || p.protocol !== PROBE_ETHERTYPE || !p.final || p.actions !== 0 || p.classid === undefined) why.push('probe filter missing or changed');
  const r = redirect[0];
  if (redirect.length !== 1 || !r || r.protocol !== ETH_P_ALL || !r.final || r.actions !== 1 || r.redirectTo === undefined) why.push('redirect missing or changed');
  else if (r.redirectTo !== peer) why.push(`redirects to ifindex ${r.redirectTo}, not ${peer}`);
  const foreign = rules.filter((x) => x.prio !== PRIO.probes && x.prio !== PRIO.redirect);
  if (foreign.length) why.push(`foreign filter${foreign.length > 1 ? 's' : ''} at prio ${[...new Set(foreign.map((x) => x.prio))].join(', ')}`);
  return why;
}

/** What readIngress reads back from a device joined to `peer`, as the kernel reports it (tests build views with it). */
export const joinedRules = (peer: number): IngressRule[] => [
  { prio: PRIO.probes, protocol: PROBE_ETHERTYPE, kind: 'u32', final: true, classid: PROBE_CLASS, actions: 0 },
  { prio: PRIO.redirect, protocol: ETH_P_ALL, kind: 'u32', final: true, redirectTo: peer, actions: 1 },
];
