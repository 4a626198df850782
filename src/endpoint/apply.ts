// Carry out a plan's steps for one endpoint, in order. Creates carry the
// MTU, group, master and up state in the create message itself; the alias
// (which the kernel ignores on create) follows in the same datagram.
import { createBridge, setPortFlags } from '../bridge/bridge.js';
import { joinOneWay, unjoin } from '../bridge/redirect.js';
import { ANCHOR, createAnchor } from '../bridge/anchor.js';
import { addrAdd, addrDel } from '../netlink/addr.js';
import { linkAdd, linkDel, linkGet, linkSet, type LinkChange } from '../netlink/link.js';
import { routeDel, routeReplace } from '../netlink/route.js';
import { fdbAppend, fdbDel, ZERO_MAC } from '../netlink/neigh.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { NotFoundError, UnavailableError } from '../errors.js';
import { aliasOf } from '../ownership.js';
import type { EngineClient } from '../dataplane/engine-client.js';
import { createTunnel } from '../tunnel/ensure.js';
import { createUserspaceTunnel } from '../tunnel/userspace.js';
import { applyShaper } from '../shape/tree.js';
import { wantsAnchor, type Step, type Where } from './plan.js';
import type { ResolvedEndpoint } from './spec.js';

export interface ApplyContext {
  node: NetlinkSocket;
  exp: NetlinkSocket;
  /** Open fd of the experiment namespace (IFLA_NET_NS_FD). */
  expFd: number;
  signal?: AbortSignal;
  /** The node's visp-engine, started on first use (userspace tunnels only). */
  engine?: () => Promise<EngineClient>;
}

export async function applySteps(r: ResolvedEndpoint, steps: readonly Step[], c: ApplyContext): Promise<void> {
  const index = new Map<string, number>();
  const sock = (w: Where): NetlinkSocket => (w === 'node' ? c.node : c.exp);
  const idx = async (w: Where, name: string): Promise<number> => {
    const key = `${w}/${name}`;
    const known = index.get(key);
    if (known !== undefined) return known;
    const l = await linkGet(sock(w), name, c.signal);
    if (!l) throw new NotFoundError(`${w === 'node' ? 'node' : r.spec.netns}: ${name} vanished while being configured`);
    index.set(key, l.index);
    return l.index;
  };
  const expUp = r.spec.adminDown !== true;
  const alias = aliasOf(r.mark);
  const engine = async (): Promise<EngineClient> => {
    if (!c.engine) throw new UnavailableError(`${r.spec.slice}/${r.spec.link}: a userspace tunnel needs visp-engine, and this node kernel has none`);
    return c.engine();
  };

  for (const s of steps) {
    switch (s.op) {
      case 'delete-link':
        await linkDel(sock(s.ns), { name: s.name }, c.signal);
        index.delete(`${s.ns}/${s.name}`);
        break;
      case 'delete-engine-tunnel':
        await (await engine()).deleteTunnel(s.name, c.signal);
        index.delete(`node/${s.name}`);
        break;
      case 'create-anchor':
        await createAnchor(c.node, c.signal);
        break;
      case 'create-bridge':
        await createBridge(c.node, r.bridge, r.mtu, r.mark, c.signal, r.nodeSide);
        break;
      case 'create-tunnel': {
        const master = r.join === 'bridge' ? await idx('node', r.bridge) : wantsAnchor(r, s.tunnel) ? await idx('node', ANCHOR) : undefined;
        // Joined by redirect: created down, and up once its filter is in place (the join step), so nothing that
        // comes in on it meanwhile goes up the node's own stack.
        const p = { mtu: r.mtu, mark: r.mark, ...(master !== undefined ? { master } : {}), up: r.join === 'bridge' };
        if (s.tunnel.dataplane === 'userspace') await createUserspaceTunnel(await engine(), c.node, s.tunnel, p, c.signal);
        else await createTunnel(c.node, s.tunnel, p, c.signal);
        break;
      }
      case 'create-l3-tunnel': {
        // Created down in the node's namespace (its underlay lives there),
        // then moved into the experiment under its final name; a moved
        // tunnel keeps sending from the namespace it was created in.
        // A userspace one likewise: the engine keeps its TUN by the fd, wherever it moves and whatever it is called.
        if (s.tunnel.dataplane === 'userspace') await createUserspaceTunnel(await engine(), c.node, s.tunnel, { mtu: r.mtu, mark: r.mark, up: false }, c.signal);
        else await createTunnel(c.node, s.tunnel, { mtu: r.mtu, mark: r.mark, up: false }, c.signal);
        const i = await idx('node', s.tunnel.name);
        await linkSet(c.node, i, { netnsFd: c.expFd, name: r.spec.ifname }, c.signal, `${s.tunnel.name} → ${r.spec.netns}:${r.spec.ifname}`);
        index.delete(`node/${s.tunnel.name}`);
        await linkSet(c.exp, r.spec.ifname, { up: expUp }, c.signal);
        break;
      }
      case 'create-veth': {
        const what = `veth ${r.vethHost} ↔ ${r.spec.netns}:${r.spec.ifname}`;
        await Promise.all([
          linkAdd(c.node, {
            name: r.vethHost, kind: 'veth', mtu: r.mtu, group: r.mark.group, ...(r.join === 'bridge' ? { master: await idx('node', r.bridge) } : {}), up: false,
            // The peer cannot come up at creation (veth_open: ENOTCONN until
            // both ends exist): up and alias follow in its own namespace.
            peer: { name: r.spec.ifname, mtu: r.mtu, group: r.mark.group, netnsFd: c.expFd },
          }, c.signal, what),
          // Host end: marked, no IPv6 link-local, then up (see createBridge); joined by redirect, up only once
          // its filter is in place (the join step): until then the experiment's frames would reach the node's stack.
          linkSet(c.node, r.vethHost, { alias, noIpv6LinkLocal: true }, c.signal, what),
          ...(r.join === 'bridge' ? [linkSet(c.node, r.vethHost, { up: true }, c.signal, what)] : []),
        ]);
        await linkSet(c.exp, r.spec.ifname, { alias, up: expUp }, c.signal, what);
        break;
      }
      case 'set-link': {
        const ch: LinkChange = {};
        if (s.fix.mtu !== undefined) ch.mtu = s.fix.mtu;
        if (s.fix.up !== undefined) ch.up = s.fix.up;
        if (s.fix.group !== undefined) ch.group = s.fix.group;
        if (s.fix.alias) ch.alias = alias;
        if (s.fix.master) ch.master = s.fix.master === 'none' ? 0 : await idx('node', s.fix.master === 'anchor' ? ANCHOR : r.bridge);
        await linkSet(sock(s.ns), s.name, ch, c.signal);
        break;
      }
      case 'join': {
        // Down while its ingress has no filter (a rejoin clears it first), up once the filter is there.
        const i = await idx('node', s.device);
        if (s.rebuild) await linkSet(c.node, i, { up: false }, c.signal, `node:${s.device}`);
        await joinOneWay(c.node, i, await idx('node', s.peer), s.rebuild, c.signal, `node:${s.device}`);
        await linkSet(c.node, i, { up: true }, c.signal, `node:${s.device}`);
        break;
      }
      case 'unjoin':
        await unjoin(c.node, await idx('node', s.device), c.signal, `node:${s.device}`);
        break;
      case 'set-port':
        await setPortFlags(c.node, s.name, s.flags, c.signal);
        break;
      case 'add-fdb':
        await fdbAppend(c.node, { index: await idx('node', s.tunnel), mac: ZERO_MAC, dst: s.dst }, c.signal);
        break;
      case 'del-fdb':
        await fdbDel(c.node, { index: await idx('node', s.tunnel), mac: ZERO_MAC, dst: s.dst }, c.signal);
        break;
      case 'add-addr':
        if (r.nodeSide) await addrAdd(c.node, await idx('node', r.bridge), s.cidr, c.signal, `node:${r.bridge}`);
        else await addrAdd(c.exp, await idx('exp', r.spec.ifname), s.cidr, c.signal, `${r.spec.netns}:${r.spec.ifname}`);
        break;
      case 'del-addr':
        if (r.nodeSide) await addrDel(c.node, await idx('node', r.bridge), s.cidr, c.signal, `node:${r.bridge}`);
        else await addrDel(c.exp, await idx('exp', r.spec.ifname), s.cidr, c.signal, `${r.spec.netns}:${r.spec.ifname}`);
        break;
      case 'add-route':
        await routeReplace(c.exp, { dst: s.dst, gateway: s.via, oif: await idx('exp', r.spec.ifname) }, c.signal);
        break;
      case 'del-route':
        await routeDel(c.exp, { dst: s.dst, gateway: s.via, oif: await idx('exp', r.spec.ifname) }, c.signal);
        break;
      case 'shape':
        await applyShaper(c.node, await idx('node', s.device), s.shaper, s.rebuild, c.signal, `node:${s.device}`);
        break;
    }
  }
}
