// Which of this node's addresses the agent offers as its underlay (the
// addresses other nodes' tunnels are built to). Asking once is not enough on
// a real host: it has several addresses, and the controller would take the
// first one it is told. The rule (docs/config.md, "The agent's underlay"):
//
// - Given (--underlay, underlay:): each must be an address on this node.
// - Otherwise the primary address is the source address the kernel would use
//   to reach the controller (RTM_GETROUTE, as `ip route get`): the address
//   the controller sees the agent come from. Its family is the controller's.
//   A controller on this machine (a unix: socket, loopback) has no route: the
//   node's only global IPv4 address is taken if there is exactly one (else
//   the only global IPv6 one); more than one is refused as ambiguous.
// - The other family: the global address of that family on the same device
//   as the primary one, if there is exactly one; else none, and the log says
//   why.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidSpecError, KernelError, UnavailableError } from '../errors.js';
import { addrList } from '../netlink/addr.js';
import { ipToBytes } from '../netlink/codec.js';
import { AF, RT_SCOPE } from '../netlink/constants.js';
import { linkList } from '../netlink/link.js';
import { routeGet } from '../netlink/route.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { ALIAS_PREFIX } from '../ownership.js';

export interface UnderlayOptions {
  /** The controller's address as the agent dials it (host:port, [v6]:port, dns:…, unix:…). */
  controller: string;
  /** Addresses the operator gave; checked, not chosen. */
  given?: readonly string[];
  /** The node's namespace (tests, one-process labs); default: this process's. */
  netns?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** An address on this node, with its device. */
export interface NodeAddress { address: string; family: 4 | 6; device: string; global: boolean }

/** Where the controller is: on this machine (no route to ask about), or a host to route to. */
export type ControllerTarget = { local: true } | { local: false; host: string };

/** The host part of a gRPC target; unix sockets are local. */
export function controllerTarget(address: string): ControllerTarget {
  if (/^unix(-abstract)?:/.test(address)) return { local: true };
  let a = address;
  const dns = /^dns:(\/\/[^/]*\/)?(.*)$/.exec(a);
  if (dns) a = dns[2]!;
  const scheme = /^(ipv4|ipv6):(.*)$/.exec(a);
  if (scheme) a = scheme[2]!.split(',')[0]!;
  if (isIP(a) === 6) return { local: false, host: a };
  const bracket = /^\[([^\]]+)\](:\d+)?$/.exec(a);
  if (bracket) return { local: false, host: bracket[1]! };
  const colon = a.lastIndexOf(':');
  return { local: false, host: colon >= 0 ? a.slice(0, colon) : a };
}

const same = (a: string, b: string): boolean => ipToBytes(a).equals(ipToBytes(b));
const isLoopback = (ip: string): boolean => (isIP(ip) === 4 ? ip.startsWith('127.') : same(ip, '::1'));
const list = (as: readonly NodeAddress[]): string => as.map((a) => `${a.address} on ${a.device}`).join(', ');

/** The underlay addresses to register with, IPv4 first. */
export async function chooseUnderlay(opts: UnderlayOptions): Promise<string[]> {
  const s = new NetlinkSocket(opts.netns ? { netns: opts.netns } : {});
  try {
    const addrs = await nodeAddresses(s, opts.signal);
    if (opts.given?.length) return checkGiven(opts.given, addrs);
    const target = controllerTarget(opts.controller);
    const ip = target.local ? undefined : await resolveHost(target.host);
    const primary = ip === undefined || isLoopback(ip) ? localPrimary(addrs, opts.log) : await routeSource(s, ip, addrs, opts.log, opts.signal);
    const other = primary.family === 4 ? 6 : 4;
    const mates = addrs.filter((a) => a.global && a.family === other && a.device === primary.device);
    if (mates.length === 1) {
      opts.log?.(`underlay: ${mates[0]!.address} (the one global IPv${other} address on ${primary.device})`);
    } else {
      opts.log?.(`underlay: no IPv${other} underlay: ${primary.device} has ${mates.length ? `${mates.length} global IPv${other} addresses (${mates.map((a) => a.address).join(', ')})` : `no global IPv${other} address`}; give --underlay to choose`);
    }
    const chosen = mates.length === 1 ? [primary, mates[0]!] : [primary];
    return chosen.sort((a, b) => a.family - b.family).map((a) => a.address);
  } finally {
    s.close();
  }
}

/** Every address on the node but those on visp's own devices; `global`: scope universe. */
async function nodeAddresses(s: NetlinkSocket, signal?: AbortSignal): Promise<NodeAddress[]> {
  const links = new Map((await linkList(s, signal ? { signal } : {})).map((l) => [l.index, l]));
  return (await addrList(s, signal)).flatMap((a) => {
    const link = links.get(a.index);
    if (link?.alias?.startsWith(ALIAS_PREFIX)) return [];
    return [{ address: a.address, family: a.family === AF.INET ? 4 : 6, device: link?.name ?? `ifindex ${a.index}`, global: a.scope === RT_SCOPE.UNIVERSE } as NodeAddress];
  });
}

function checkGiven(given: readonly string[], addrs: readonly NodeAddress[]): string[] {
  for (const g of given) {
    if (!isIP(g)) throw new InvalidSpecError(`underlay: ${JSON.stringify(g)} is not an IP address`, { field: 'underlay' });
    if (!addrs.some((a) => same(a.address, g))) {
      const globals = addrs.filter((a) => a.global);
      throw new InvalidSpecError(`underlay: ${g} is not an address on this node (${globals.length ? `it has ${list(globals)}` : 'it has no global address'})`, { field: 'underlay' });
    }
  }
  const v4 = given.filter((g) => isIP(g) === 4), v6 = given.filter((g) => isIP(g) === 6);
  return [...v4, ...v6];
}

/** A controller on this machine: the node's only global IPv4 address, else its only global IPv6 one. */
function localPrimary(addrs: readonly NodeAddress[], log?: (line: string) => void): NodeAddress {
  const primary = onlyGlobal(addrs, 4) ?? onlyGlobal(addrs, 6);
  if (!primary) throw new InvalidSpecError('underlay: this node has no global address to offer (visp\'s own devices do not count); give --underlay', { field: 'underlay' });
  log?.(`underlay: ${primary.address} on ${primary.device} (the controller is on this machine; it is the node's only global IPv${primary.family} address)`);
  return primary;
}

/** The one global address of `family`, undefined if none; several are ambiguous. */
function onlyGlobal(addrs: readonly NodeAddress[], family: 4 | 6): NodeAddress | undefined {
  const all = addrs.filter((a) => a.global && a.family === family);
  if (all.length > 1) throw new InvalidSpecError(`ambiguous underlay: ${list(all)}; give --underlay`, { field: 'underlay' });
  return all[0];
}

async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  let found: Array<{ address: string; family: number }>;
  try {
    found = await lookup(host, { all: true });
  } catch (e) {
    throw new UnavailableError(`underlay: cannot resolve the controller's host ${host} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give --underlay`, { field: 'underlay', cause: e });
  }
  const pick = found.find((a) => a.family === 4) ?? found[0];
  if (!pick) throw new UnavailableError(`underlay: the controller's host ${host} has no address; give --underlay`, { field: 'underlay' });
  return pick.address;
}

/** The node's address the kernel would send from toward the controller at `ip`. */
async function routeSource(s: NetlinkSocket, ip: string, addrs: readonly NodeAddress[], log?: (line: string) => void, signal?: AbortSignal): Promise<NodeAddress> {
  let src: string | undefined;
  try {
    src = (await routeGet(s, ip, signal)).src;
  } catch (e) {
    if (e instanceof KernelError) throw new UnavailableError(`underlay: no route to the controller at ${ip} (${e.errnoName}); give --underlay`, { field: 'underlay', cause: e });
    throw e;
  }
  const mine = src !== undefined ? addrs.find((a) => same(a.address, src)) : undefined;
  if (!mine?.global) {
    throw new InvalidSpecError(`underlay: the route to the controller at ${ip} ${src ? `leaves from ${src}, which is not a global address of this node` : 'names no source address'}; give --underlay`, { field: 'underlay' });
  }
  log?.(`underlay: ${mine.address} on ${mine.device} (the source address toward the controller ${ip})`);
  return mine;
}
