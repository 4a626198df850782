// Netlink wire codec: message headers, TLV attributes (with nesting and
// 4-byte alignment), and the few integer/address encodings rtnetlink uses.
// Pure functions over Buffers; no sockets here.
import { isIP } from 'node:net';

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export const align4 = (n: number): number => (n + 3) & ~3;

// ---- attributes ------------------------------------------------------------

/** One encoded attribute (header + payload + padding). */
export function attr(type: number, data: Buffer): Buffer {
  const len = NLA_HDRLEN + data.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  data.copy(out, NLA_HDRLEN);
  return out;
}

/** A nested attribute; `flag` sets NLA_F_NESTED (some kernel parsers require it, others ignore it). */
export function nested(type: number, children: readonly Buffer[], flag = false): Buffer {
  return attr(flag ? type | NLA_F_NESTED : type, Buffer.concat(children));
}

export const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
export function u16(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; }
export function u32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; }
export function be16(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; }
export function be32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; }
/** NUL-terminated string, as the kernel expects for names, kinds and aliases. */
export const str = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
/** Aliases are NLA_STRING without a required NUL; iproute2 sends none. */
export const rawStr = (s: string): Buffer => Buffer.from(s, 'utf8');

export interface Attr { type: number; data: Buffer }

/** All attributes in order (repeats kept). The nested flag is stripped from the type. */
export function parseAttrList(buf: Buffer, offset = 0, end = buf.length): Attr[] {
  const out: Attr[] = [];
  let off = offset;
  while (off + NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > end) break; // truncated: stop rather than misparse
    out.push({ type: buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, data: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (last one wins). */
export function parseAttrs(buf: Buffer, offset = 0, end = buf.length): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttrList(buf, offset, end)) m.set(a.type, a.data);
  return m;
}

export const readStr = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
};
export const readU8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
export const readU16 = (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16LE(0) : undefined);
export const readU32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
export const readBe16 = (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);
export const readBe32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32BE(0) : undefined);

// ---- messages ---------------------------------------------------------------

export interface NlMessage { type: number; flags: number; seq: number; pid: number; payload: Buffer }

export function encodeMessage(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const len = NLMSG_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  out.writeUInt32LE(0, 12);
  payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Split one datagram into its messages. */
export function decodeMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

// ---- fixed headers ------------------------------------------------------------

export interface IfInfoMsg { family: number; type: number; index: number; flags: number; change: number }
export function ifinfomsg(h: Partial<IfInfoMsg> = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(h.family ?? 0, 0);
  b.writeUInt16LE(h.type ?? 0, 2);
  b.writeInt32LE(h.index ?? 0, 4);
  b.writeUInt32LE((h.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((h.change ?? 0) >>> 0, 12);
  return b;
}
export function readIfinfomsg(p: Buffer): IfInfoMsg {
  return { family: p.readUInt8(0), type: p.readUInt16LE(2), index: p.readInt32LE(4), flags: p.readUInt32LE(8), change: p.readUInt32LE(12) };
}

export interface IfAddrMsg { family: number; prefixlen: number; flags: number; scope: number; index: number }
export function ifaddrmsg(h: IfAddrMsg): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(h.family, 0);
  b.writeUInt8(h.prefixlen, 1);
  b.writeUInt8(h.flags, 2);
  b.writeUInt8(h.scope, 3);
  b.writeUInt32LE(h.index, 4);
  return b;
}
export function readIfaddrmsg(p: Buffer): IfAddrMsg {
  return { family: p.readUInt8(0), prefixlen: p.readUInt8(1), flags: p.readUInt8(2), scope: p.readUInt8(3), index: p.readUInt32LE(4) };
}

export interface RtMsg { family: number; dstLen: number; srcLen: number; tos: number; table: number; protocol: number; scope: number; type: number; flags: number }
export function rtmsg(h: RtMsg): Buffer {
  const b = Buffer.alloc(12);
  [h.family, h.dstLen, h.srcLen, h.tos, h.table, h.protocol, h.scope, h.type].forEach((v, i) => b.writeUInt8(v, i));
  b.writeUInt32LE(h.flags, 8);
  return b;
}
export function readRtmsg(p: Buffer): RtMsg {
  return {
    family: p[0]!, dstLen: p[1]!, srcLen: p[2]!, tos: p[3]!, table: p[4]!, protocol: p[5]!, scope: p[6]!, type: p[7]!,
    flags: p.readUInt32LE(8),
  };
}

export interface NdMsg { family: number; index: number; state: number; flags: number; type: number }
export function ndmsg(h: NdMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(h.family, 0);
  b.writeInt32LE(h.index, 4);
  b.writeUInt16LE(h.state, 8);
  b.writeUInt8(h.flags, 10);
  b.writeUInt8(h.type, 11);
  return b;
}
export function readNdmsg(p: Buffer): NdMsg {
  return { family: p[0]!, index: p.readInt32LE(4), state: p.readUInt16LE(8), flags: p[10]!, type: p[11]! };
}

// ---- addresses ------------------------------------------------------------------

/** IPv4/IPv6 text → 4 or 16 bytes. Throws on anything else. */
export function ipToBytes(ip: string): Buffer {
  const fam = isIP(ip);
  if (fam === 4) return Buffer.from(ip.split('.').map(Number));
  if (fam !== 6) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  let text = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const b = ipToBytes(v4tail[1]!);
    text = text.slice(0, -v4tail[1]!.length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** 4 or 16 bytes → canonical text (RFC 5952 for IPv6: lowercase, longest zero run compressed). */
export function bytesToIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new TypeError(`address of ${b.length} bytes`);
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export const familyOf = (ip: string): number => (isIP(ip) === 6 ? 10 : 2);

/** "192.0.2.1/31" → { address, prefixlen, family }. */
export function parseCidr(cidr: string): { address: string; prefixlen: number; family: number } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const fam = m ? isIP(m[1]!) : 0;
  const plen = m ? Number(m[2]) : -1;
  if (!m || !fam || plen > (fam === 4 ? 32 : 128)) throw new TypeError(`not an address/prefix: ${JSON.stringify(cidr)}`);
  return { address: bytesToIp(ipToBytes(m[1]!)), prefixlen: plen, family: fam === 4 ? 2 : 10 };
}

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}
export const bytesToMac = (b: Buffer): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
