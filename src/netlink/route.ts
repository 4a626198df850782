// Routes (RTM_*ROUTE), in any table: the agent keeps per-slice tables apart
// from the node's main table and marks its own routes with RTPROT_VISP.
import { NLM_F, RTA, RTM, RTN, RTPROT_VISP, RT_SCOPE, RT_TABLE } from './constants.js';
import { attr, bytesToIp, ipToBytes, parseAttrs, parseCidr, readRtmsg, readU32, rtmsg, u32 } from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

export interface RouteSpec {
  /** Destination prefix, e.g. "198.51.100.0/24" or "::/0". */
  dst: string;
  gateway?: string;
  oif?: number;
  table?: number;
  metric?: number;
  protocol?: number;
  src?: string;
}

export interface Route extends RouteSpec { family: number; table: number; protocol: number; scope: number; type: number }

function encode(r: RouteSpec, del = false): Buffer {
  const d = parseCidr(r.dst);
  const table = r.table ?? RT_TABLE.MAIN;
  // A delete matches any scope (RT_SCOPE_NOWHERE, as iproute2 sends): with
  // link scope, a gateway route named by its destination alone would not match.
  const scope = del ? RT_SCOPE.NOWHERE : r.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK;
  const a: Buffer[] = [rtmsg({
    family: d.family, dstLen: d.prefixlen, srcLen: 0, tos: 0, table: table < 256 ? table : RT_TABLE.UNSPEC,
    protocol: r.protocol ?? RTPROT_VISP, scope, type: RTN.UNICAST, flags: 0,
  })];
  a.push(attr(RTA.TABLE, u32(table)));
  if (d.prefixlen > 0) a.push(attr(RTA.DST, ipToBytes(d.address)));
  if (r.gateway) a.push(attr(RTA.GATEWAY, ipToBytes(r.gateway)));
  if (r.oif !== undefined) a.push(attr(RTA.OIF, u32(r.oif)));
  if (r.metric !== undefined) a.push(attr(RTA.PRIORITY, u32(r.metric)));
  if (r.src) a.push(attr(RTA.PREFSRC, ipToBytes(r.src)));
  return Buffer.concat(a);
}

const describe = (r: RouteSpec): string => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif ? ` dev ${r.oif}` : ''} table ${r.table ?? RT_TABLE.MAIN}`;

/** Add or replace a route (idempotent by design: REPLACE). */
export async function routeReplace(s: NetlinkSocket, r: RouteSpec, signal?: AbortSignal): Promise<void> {
  await s.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.REPLACE, encode(r), { op: 'routeReplace', object: describe(r), signal });
}

export async function routeDel(s: NetlinkSocket, r: RouteSpec, signal?: AbortSignal): Promise<void> {
  try {
    await s.request(RTM.DELROUTE, 0, encode(r, true), { op: 'routeDel', object: describe(r), signal });
  } catch (e) {
    if (e instanceof KernelError && e.errnoName === 'ESRCH') return;
    throw e;
  }
}

export async function routeList(s: NetlinkSocket, family: 2 | 10, signal?: AbortSignal): Promise<Route[]> {
  const msgs = await s.dump(RTM.GETROUTE, rtmsg({ family, dstLen: 0, srcLen: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 }),
    { op: 'routeList', object: s.netns ? `netns ${s.netns}` : 'routes', signal });
  return msgs.filter((m) => m.type === RTM.NEWROUTE).map((m) => decodeRoute(m.payload));
}

/**
 * The route the kernel would take to reach `dst` (one address), as
 * `ip route get` asks for it: its device (oif) and the source address it
 * would pick (src). No route is a KernelError (ENETUNREACH).
 */
export async function routeGet(s: NetlinkSocket, dst: string, signal?: AbortSignal): Promise<Route> {
  const ip = ipToBytes(dst);
  const req = Buffer.concat([
    rtmsg({ family: ip.length === 4 ? 2 : 10, dstLen: ip.length * 8, srcLen: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 }),
    attr(RTA.DST, ip),
  ]);
  const reply = (await s.request(RTM.GETROUTE, 0, req, { op: 'routeGet', object: dst, signal })).find((m) => m.type === RTM.NEWROUTE);
  if (!reply) throw new KernelError('routeGet', dst, 0, 'ENODATA', 'the kernel answered without a route');
  return decodeRoute(reply.payload);
}

export function decodeRoute(p: Buffer): Route {
  const h = readRtmsg(p);
  const a = parseAttrs(p, 12);
  const dstRaw = a.get(RTA.DST);
  const dst = dstRaw ? `${bytesToIp(dstRaw)}/${h.dstLen}` : h.family === 10 ? '::/0' : '0.0.0.0/0';
  const r: Route = { dst, family: h.family, table: readU32(a.get(RTA.TABLE)) ?? h.table, protocol: h.protocol, scope: h.scope, type: h.type };
  const gw = a.get(RTA.GATEWAY);
  if (gw) r.gateway = bytesToIp(gw);
  const oif = readU32(a.get(RTA.OIF));
  if (oif !== undefined) r.oif = oif;
  const metric = readU32(a.get(RTA.PRIORITY));
  if (metric !== undefined) r.metric = metric;
  const src = a.get(RTA.PREFSRC);
  if (src) r.src = bytesToIp(src);
  return r;
}
