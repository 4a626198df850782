// diff(spec, state) → steps. Pure: no kernel access, so the same code
// answers a dry run (Operator.Plan) and drives the real reconcile, and it is
// unit-tested without root. Every step says why, in words an operator reads.
import { IncompatibleStateError } from '../errors.js';
import type { Link } from '../netlink/link.js';
import { aliasOf } from '../ownership.js';
import { decodePortFlags, type PortFlags } from '../bridge/bridge.js';
import { joinProblems } from '../bridge/redirect.js';
import { ANCHOR, anchorProblems, isAnchor } from '../bridge/anchor.js';
import { kinds } from '../tunnel/kinds.js';
import { describeTunnel, diffTunnel } from '../tunnel/ensure.js';
import type { TunnelSpec } from '../tunnel/types.js';
import { diffEngineTunnel, ENGINE_LINK_KIND } from '../tunnel/userspace.js';
import type { NsView } from './snapshot.js';
import { diffShaper, egressQdiscs, type ShaperQdisc } from '../shape/tree.js';
import { describeProperties } from '../shape/properties.js';
import type { ResolvedEndpoint } from './spec.js';

export type Where = 'node' | 'exp';
export interface LinkFix { mtu?: number; up?: boolean; master?: 'bridge' | 'anchor' | 'none'; alias?: true; group?: number }

/** A kernel tunnel joined by redirect whose kind answers path MTU only as a bridge port: a port of the node's anchor (src/bridge/anchor.ts). */
export const wantsAnchor = (r: ResolvedEndpoint, t: TunnelSpec): boolean =>
  r.join === 'redirect' && t.dataplane !== 'userspace' && kinds[t.kind].pmtuReplyAsBridgePort === true;

export type Step =
  | { op: 'delete-link'; ns: Where; name: string; why: string }
  /** A visp-engine tunnel: the engine closes its device, which goes with it. */
  | { op: 'delete-engine-tunnel'; name: string; why: string }
  | { op: 'create-bridge' }
  /** The node's anchor bridge (src/bridge/anchor.ts), made by the first endpoint that needs it. */
  | { op: 'create-anchor'; why: string }
  | { op: 'create-tunnel'; tunnel: TunnelSpec }
  | { op: 'create-l3-tunnel'; tunnel: TunnelSpec }
  | { op: 'create-veth' }
  | { op: 'set-link'; ns: Where; name: string; fix: LinkFix; why: string }
  | { op: 'set-port'; name: string; flags: PortFlags }
  /** A redirect join, one way: `device`'s ingress goes out of `peer` (src/bridge/redirect.ts); `rebuild`: its clsact is cleared first. */
  | { op: 'join'; device: string; peer: string; rebuild: boolean; why: string }
  /** A redirect join removed from a device that is now a bridge port. */
  | { op: 'unjoin'; device: string; why: string }
  | { op: 'add-fdb'; tunnel: string; dst: string }
  | { op: 'del-fdb'; tunnel: string; dst: string }
  | { op: 'add-addr'; cidr: string }
  | { op: 'del-addr'; cidr: string }
  | { op: 'add-route'; dst: string; via: string }
  | { op: 'del-route'; dst: string; via: string }
  /** A tunnel device's egress shaped as the endpoint's properties say ([]: unshaped); `rebuild`: its root goes first. */
  | { op: 'shape'; device: string; shaper: ShaperQdisc[]; rebuild: boolean; why: string };

/** Ours: our alias, or (a create interrupted before its alias) no alias but our group. */
function owned(l: Link, r: ResolvedEndpoint): boolean {
  return l.alias === aliasOf(r.mark) || (!l.alias && l.group === r.mark.group);
}

function guard(l: Link | undefined, r: ResolvedEndpoint, where: string): void {
  if (l && !owned(l, r)) {
    throw new IncompatibleStateError(
      `${where}: interface ${l.name} exists and is not owned by ${aliasOf(r.mark)} (alias ${JSON.stringify(l.alias ?? '')}, group ${l.group ?? 0}); refusing to touch it`,
      { field: where.includes('experiment') ? 'ifname' : 'link' });
  }
}

/** In-place fixes for an existing, matching object. */
/** The master a device should have: none, or a bridge (the link's, or the node's anchor) by ifindex, or one this plan creates. */
type WantMaster = 'none' | { of: 'bridge' | 'anchor'; index: number | 'new' };

function fixes(l: Link, r: ResolvedEndpoint, want: { mtu: number; up: boolean; master?: WantMaster }): { fix: LinkFix; why: string[] } {
  const fix: LinkFix = {};
  const why: string[] = [];
  if (l.mtu !== want.mtu) { fix.mtu = want.mtu; why.push(`mtu ${l.mtu} → ${want.mtu}`); }
  if (l.up !== want.up) { fix.up = want.up; why.push(want.up ? 'down → up' : 'up → down'); }
  const m = want.master;
  if (m === 'none') {
    if (l.master) { fix.master = 'none'; why.push(`master ifindex ${l.master} → none`); }
  } else if (m !== undefined && (m.index === 'new' || l.master !== m.index)) {
    fix.master = m.of;
    why.push(l.master ? `master ifindex ${l.master} → ${m.of}` : `not on the ${m.of} → ${m.of}`);
  }
  if (l.alias !== aliasOf(r.mark)) { fix.alias = true; why.push('alias missing'); }
  if (l.group !== r.mark.group) { fix.group = r.mark.group; why.push(`group ${l.group ?? 0} → ${r.mark.group}`); }
  return { fix, why };
}

function pushFix(steps: Step[], ns: Where, l: Link, f: { fix: LinkFix; why: string[] }): void {
  if (f.why.length) steps.push({ op: 'set-link', ns, name: l.name, fix: f.fix, why: f.why.join(', ') });
}

const sameFlags = (a: PortFlags | undefined, b: PortFlags): boolean => !!a && a.isolated === b.isolated && a.learning === b.learning;

/** An engine device in the node namespace: the engine has a tunnel of that name and the kernel a tun device. */
const engineDevice = (node: NsView, l: Link | undefined): boolean => !!l && l.kind === ENGINE_LINK_KIND && node.engine.has(l.name);

/** Delete a node-side object: through the engine when it is one of its devices (a TAP only goes when the engine closes it). */
const delNode = (node: NsView, l: Link, why: string): Step =>
  engineDevice(node, l) ? { op: 'delete-engine-tunnel', name: l.name, why } : { op: 'delete-link', ns: 'node', name: l.name, why };

/**
 * The existing device of tunnel `t` that can stay (`keep`, fixed in place),
 * or none (create it), and the deletions that come first. A kernel tunnel is
 * compared with its link attributes; a userspace one with the engine's
 * `list` (to the kernel it is a plain tun device): the engine must have it
 * as specified and its device must still exist.
 */
function existingTunnel(t: TunnelSpec, have: Link | undefined, node: NsView, ns: Where): { keep?: Link; steps: Step[] } {
  const steps: Step[] = [];
  const e = node.engine.get(t.name);
  if (t.dataplane === 'userspace') {
    const why = e ? diffEngineTunnel(t, e) : [];
    if (e && !have) why.push('its device is gone');
    if (have && (!e || have.kind !== ENGINE_LINK_KIND)) {
      steps.push({ op: 'delete-link', ns, name: have.name, why: `${have.kind ?? 'device'} → userspace ${t.kind}` });
      if (e) why.push('its device was replaced');
    }
    if (e && why.length) steps.push({ op: 'delete-engine-tunnel', name: t.name, why: why.join(', ') });
    return e && !why.length ? { keep: have!, steps } : { steps };
  }
  if (e) steps.push({ op: 'delete-engine-tunnel', name: t.name, why: `userspace → kernel ${t.kind}` });
  const dev = have && !(e && have.kind === ENGINE_LINK_KIND) ? have : undefined;
  const diff = dev ? diffTunnel(t, dev) : [];
  if (dev && diff.length) steps.push({ op: 'delete-link', ns, name: dev.name, why: diff.join(', ') });
  return dev && !diff.length ? { keep: dev, steps } : { steps };
}

/** What planning needs to know beyond the spec and the kernel. */
export interface PlanContext {
  /**
   * Addresses visp put on this endpoint's interface under an earlier spec
   * (the agent remembers the spec it last applied). Only these, when the
   * spec no longer has them, are removed; any other address on the
   * interface is not visp's and stays.
   */
  formerAddresses?: readonly string[];
}

export function planEndpoint(r: ResolvedEndpoint, node: NsView, exp: NsView, ctx: PlanContext = {}): Step[] {
  const steps: Step[] = [];
  const alias = aliasOf(r.mark);
  const expUp = r.spec.adminDown !== true;
  // The egress end of a link has no veth: its bridge is the node's egress device.
  const bridged = r.join === 'bridge';
  const nodeNames = r.layer === 2 ? [...(bridged ? [r.bridge] : []), ...(r.nodeSide ? [] : [r.vethHost]), ...r.tunnels.map((t) => t.name)] : [];

  // An engine device is visp's even before it is marked (the engine is visp's own).
  for (const n of nodeNames) if (!engineDevice(node, node.byName.get(n))) guard(node.byName.get(n), r, 'node');
  if (!r.nodeSide) guard(exp.byName.get(r.spec.ifname), r, `experiment namespace ${r.spec.netns}`);

  // Objects of this endpoint that the spec no longer has (a member left the LAN, a rename, an interrupted move).
  for (const l of node.byAlias.get(alias) ?? []) {
    if (!nodeNames.includes(l.name)) steps.push(delNode(node, l, 'no longer in the spec'));
  }
  for (const l of r.nodeSide ? [] : exp.byAlias.get(alias) ?? []) {
    if (l.name !== r.spec.ifname) steps.push({ op: 'delete-link', ns: 'exp', name: l.name, why: 'no longer in the spec' });
  }

  if (r.layer === 3) {
    const t = r.tunnels[0]!;
    const { keep: dev, steps: pre } = existingTunnel(t, exp.byName.get(r.spec.ifname), node, 'exp');
    steps.push(...pre);
    if (!dev) steps.push({ op: 'create-l3-tunnel', tunnel: t });
    else pushFix(steps, 'exp', dev, fixes(dev, r, { mtu: r.mtu, up: expUp }));
    planAddrs(steps, r, dev ? exp.addrs.get(dev.index) ?? [] : [], ctx);
    planRoutes(steps, r, dev ? exp.routes.get(dev.index) ?? [] : []);
    return steps;
  }

  // The bridge, where there is one; a redirect join wants its devices on no master.
  const br = bridged ? node.byName.get(r.bridge) : undefined;
  const brNew = bridged && (!br || br.kind !== 'bridge');
  if (br && brNew) steps.push({ op: 'delete-link', ns: 'node', name: br.name, why: `kind ${br.kind} → bridge` });
  if (brNew) steps.push({ op: 'create-bridge' });
  else if (br) pushFix(steps, 'node', br, fixes(br, r, { mtu: r.mtu, up: true }));
  const master: WantMaster = !bridged ? 'none' : { of: 'bridge', index: brNew || !br ? 'new' : br.index };
  // The node's anchor, for a tunnel that needs one (made once, by the first endpoint that does).
  const anchor = node.byName.get(ANCHOR);
  if (anchor && !isAnchor(anchor)) {
    throw new IncompatibleStateError(`node: interface ${ANCHOR} exists and is not visp's anchor bridge (kind ${anchor.kind ?? '?'}, alias ${JSON.stringify(anchor.alias ?? '')}); refusing to touch it`, { field: 'link' });
  }
  let anchorPlanned = false;
  const tunnelMaster = (t: TunnelSpec): WantMaster => {
    if (!wantsAnchor(r, t)) return master;
    const why = anchor ? anchorProblems(anchor) : ['new'];
    if (why.length && !anchorPlanned) { steps.push({ op: 'create-anchor', why: why.join(', ') }); anchorPlanned = true; }
    return { of: 'anchor', index: anchor ? anchor.index : 'new' };
  };
  // A device that was joined by redirect and is now a bridge port loses its redirect first.
  const unjoin = (l: Link): void => {
    if (bridged && node.ingress?.has(l.index)) steps.push({ op: 'unjoin', device: l.name, why: 'joined by redirect; now a bridge port' });
  };
  let tunnelDev: { name: string; kept?: Link } | undefined;

  // Tunnels, their port flags and (VXLAN LAN) flood entries.
  const wantFlags: PortFlags = { isolated: r.isolate, learning: true };
  for (const t of r.tunnels) {
    const { keep: l, steps: pre } = existingTunnel(t, node.byName.get(t.name), node, 'node');
    steps.push(...pre);
    const fresh = !l;
    tunnelDev = l ? { name: t.name, kept: l } : { name: t.name };
    const tm = tunnelMaster(t);
    if (!l) {
      steps.push({ op: 'create-tunnel', tunnel: t });
      if (r.isolate) steps.push({ op: 'set-port', name: t.name, flags: wantFlags });
    } else {
      unjoin(l);
      pushFix(steps, 'node', l, fixes(l, r, { mtu: r.mtu, up: true, master: tm }));
      if (bridged && (!sameFlags(decodePortFlags(l.slaveData), wantFlags) || (master !== 'none' && master.index === 'new'))) steps.push({ op: 'set-port', name: t.name, flags: wantFlags });
    }
    planShaper(steps, r, t.name, fresh ? undefined : l, node);
    if (r.fdb.length) {
      const have = fresh ? new Set<string>() : node.fdb.get(l.index) ?? new Set<string>();
      for (const dst of r.fdb) if (!have.has(dst)) steps.push({ op: 'add-fdb', tunnel: t.name, dst });
      for (const dst of have) if (!r.fdb.includes(dst)) steps.push({ op: 'del-fdb', tunnel: t.name, dst });
    }
  }

  if (r.nodeSide) {
    planAddrs(steps, r, brNew || !br ? [] : node.addrs.get(br.index) ?? [], ctx);
    return steps;
  }

  // The veth pair: host end on the bridge, far end in the experiment.
  const host = node.byName.get(r.vethHost);
  const peer = exp.byName.get(r.spec.ifname);
  const paired = !!host && !!peer && host.kind === 'veth' && peer.kind === 'veth' && host.link === peer.index && peer.link === host.index;
  if (!paired) {
    if (host) steps.push({ op: 'delete-link', ns: 'node', name: host.name, why: 'veth pair broken' });
    // Deleting one end of a veth deletes the other; delete the experiment end only if it was someone else's peer.
    if (peer && !(host && host.link === peer.index)) steps.push({ op: 'delete-link', ns: 'exp', name: peer.name, why: 'veth pair broken' });
    steps.push({ op: 'create-veth' });
  } else {
    unjoin(host);
    pushFix(steps, 'node', host, fixes(host, r, { mtu: r.mtu, up: true, master }));
    pushFix(steps, 'exp', peer, fixes(peer, r, { mtu: r.mtu, up: expUp }));
  }
  if (!bridged && tunnelDev) planJoin(steps, node, tunnelDev, paired ? { name: host.name, kept: host } : { name: r.vethHost });
  planAddrs(steps, r, paired ? exp.addrs.get(peer.index) ?? [] : [], ctx);
  planRoutes(steps, r, paired ? exp.routes.get(peer.index) ?? [] : []);
  return steps;
}

/**
 * The redirect join of a tunnel and a veth host end (src/bridge/redirect.ts),
 * each way: a device built in this plan is joined; a kept one is checked
 * against its ingress filters, when they were read, and rejoined (cleared
 * first) when they are not exactly the join to its peer as it is now — a
 * peer that is rebuilt gets a new ifindex, so the kept side's redirect is
 * stale.
 */
function planJoin(steps: Step[], node: NsView, a: { name: string; kept?: Link }, b: { name: string; kept?: Link }): void {
  const first = steps.length;
  for (const [dev, peer] of [[a, b], [b, a]] as const) {
    if (!dev.kept) { steps.push({ op: 'join', device: dev.name, peer: peer.name, rebuild: false, why: 'new device' }); continue; }
    if (!peer.kept) { steps.push({ op: 'join', device: dev.name, peer: peer.name, rebuild: true, why: 'its peer is new' }); continue; }
    if (!node.ingress) continue;
    const why = joinProblems(node.ingress.get(dev.kept.index), peer.kept.index);
    // Cleared first, always: whatever is at its ingress (a clsact with other filters, an `ingress` qdisc) goes.
    if (why.length) steps.push({ op: 'join', device: dev.name, peer: peer.name, rebuild: true, why: why.join(', ') });
  }
  // A device being joined comes up with its join, not before it (a fix that would bring it up first is dropped).
  const joined = new Set(steps.slice(first).map((s) => (s as { device: string }).device));
  for (let i = first - 1; i >= 0; i--) {
    const s = steps[i]!;
    if (s.op !== 'set-link' || s.ns !== 'node' || !joined.has(s.name) || s.fix.up !== true) continue;
    const { up: _up, ...rest } = s.fix;
    const why = s.why.split(', ').filter((w) => w !== 'down → up').join(', ');
    if (Object.keys(rest).length) steps[i] = { ...s, fix: rest, why };
    else steps.splice(i, 1);
  }
}

/**
 * The egress shaper of one tunnel device (docs/links.md): a new device gets
 * the endpoint's, an existing one is compared with what its qdiscs are,
 * when the node's qdiscs were read (the view says; NodeKernel reads them
 * while any endpoint is shaped, or was).
 */
function planShaper(steps: Step[], r: ResolvedEndpoint, device: string, dev: Link | undefined, node: NsView): void {
  if (!dev) {
    if (r.shaper.length) steps.push({ op: 'shape', device, shaper: r.shaper, rebuild: false, why: 'new device' });
    return;
  }
  if (!node.qdiscs) return;
  const d = diffShaper(r.shaper, egressQdiscs(node.qdiscs.get(dev.index) ?? []));
  if (d.why.length) steps.push({ op: 'shape', device, shaper: r.shaper, rebuild: d.rebuild, why: d.why.join(', ') });
}

/**
 * Our routes through the experiment interface (protocol visp: the view holds
 * no other); none while it is held down (the kernel drops them then). Routes
 * of any other protocol are the experimenter's and never planned.
 */
function planRoutes(steps: Step[], r: ResolvedEndpoint, have: ReadonlyArray<{ dst: string; via: string }>): void {
  const want = r.spec.adminDown ? [] : r.routes;
  const same = (a: { dst: string; via: string }, b: { dst: string; via: string }): boolean => a.dst === b.dst && a.via === b.via;
  for (const x of want) if (!have.some((h) => same(h, x))) steps.push({ op: 'add-route', dst: x.dst, via: x.via });
  for (const h of have) if (!want.some((x) => same(h, x))) steps.push({ op: 'del-route', dst: h.dst, via: h.via });
}

/**
 * Addresses: the spec's are added when missing (drift). Removed is only an
 * address visp itself assigned under an earlier spec; everything else on
 * the interface — an experimenter's secondary address or /128, SLAAC — is
 * theirs and never planned away (docs/ownership.md).
 */
function planAddrs(steps: Step[], r: ResolvedEndpoint, have: readonly string[], ctx: PlanContext): void {
  for (const c of r.addresses) if (!have.includes(c)) steps.push({ op: 'add-addr', cidr: c });
  for (const c of have) if (ctx.formerAddresses?.includes(c) && !r.addresses.includes(c)) steps.push({ op: 'del-addr', cidr: c });
}

/** One line per step, for Plan output, events and logs. */
export function describeStep(s: Step, r: ResolvedEndpoint): string {
  const exp = r.nodeSide ? `node:${r.bridge}` : `${r.spec.netns}:${r.spec.ifname}`;
  switch (s.op) {
    case 'delete-link': return `${s.ns === 'node' ? 'node' : r.spec.netns}: delete ${s.name} (${s.why})`;
    case 'delete-engine-tunnel': return `node: delete userspace tunnel ${s.name} (${s.why})`;
    case 'create-bridge': return `node: create bridge ${r.bridge} (mtu ${r.mtu})`;
    case 'create-anchor': return `node: the anchor bridge ${ANCHOR}, down, marked: ${s.why} (its tunnel ports answer path MTU)`;
    case 'create-tunnel': return `node: create ${describeTunnel(s.tunnel)}${r.join === 'bridge' ? ` on ${r.bridge}` : wantsAnchor(r, s.tunnel) ? ` on ${ANCHOR}` : ''}`;
    case 'create-l3-tunnel': return `${r.spec.netns}: create ${describeTunnel(s.tunnel)} as ${r.spec.ifname}`;
    case 'create-veth': return `node: create veth ${r.vethHost}${r.join === 'bridge' ? ` on ${r.bridge}` : ''} ↔ ${exp} (mtu ${r.mtu})`;
    case 'set-link': return `${s.ns === 'node' ? 'node' : r.spec.netns}: set ${s.name}: ${s.why}`;
    case 'set-port': return `node: bridge port ${s.name}: isolated ${s.flags.isolated ? 'on' : 'off'}, learning ${s.flags.learning ? 'on' : 'off'}`;
    case 'join': return `node: ${s.device} → ${s.peer} redirect (${s.why})`;
    case 'unjoin': return `node: ${s.device}: remove redirect (${s.why})`;
    case 'add-fdb': return `node: fdb ${s.tunnel} flood → ${s.dst}`;
    case 'del-fdb': return `node: fdb ${s.tunnel} remove flood → ${s.dst}`;
    case 'add-addr': return `${exp}: add ${s.cidr}`;
    case 'del-addr': return `${exp}: remove ${s.cidr}`;
    case 'add-route': return `${exp}: route ${s.dst} via ${s.via}`;
    case 'del-route': return `${exp}: remove route ${s.dst} via ${s.via}`;
    case 'shape': return `node: ${s.device} egress: ${s.shaper.length ? describeProperties(r.spec.properties) : 'unshaped'} (${s.why})`;
  }
}
