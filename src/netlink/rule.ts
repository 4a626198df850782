// FIB rules (RTM_*RULE): policy routing, IPv4 and IPv6. A rule is a
// struct fib_rule_hdr (family, prefix lengths, table if < 256, action)
// followed by FRA_* attributes. Encoded the way iproute2's `ip rule` does
// (rule.test.ts compares the bytes): a table ≥ 256 goes in
// FRA_TABLE with the header's table RT_TABLE_UNSPEC. Ours carry
// FRA_PROTOCOL = RTPROT_VISP, so a dump tells them apart from anyone else's.
import { FIB_RULE_HDRLEN, FR_ACT, FRA, NLM_F, RTM_RULE, RTPROT_VISP, RT_TABLE } from './constants.js';
import { attr, bytesToIp, ipToBytes, parseAttrs, parseCidr, readU32, readU8, u32, u8 } from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

export type RuleAction = 'lookup' | 'unreachable' | 'blackhole' | 'prohibit';

const ACTION_CODE: Record<RuleAction, number> = {
  lookup: FR_ACT.TO_TBL, unreachable: FR_ACT.UNREACHABLE, blackhole: FR_ACT.BLACKHOLE, prohibit: FR_ACT.PROHIBIT,
};

export interface RuleSpec {
  /** AF_INET (2) or AF_INET6 (10); taken from `src`/`dst` when either is given. */
  family?: 2 | 10;
  /** Source prefix ("from"), e.g. "203.0.113.0/24"; undefined = all. */
  src?: string;
  /** Destination prefix ("to"); undefined = all. */
  dst?: string;
  /** 'lookup' (default) needs `table`. */
  action?: RuleAction;
  table?: number;
  /** Rule preference; the kernel picks one when undefined. */
  priority?: number;
  /** rtm protocol of the rule (FRA_PROTOCOL); RTPROT_VISP unless told. */
  protocol?: number;
}

export interface Rule {
  family: number;
  src?: string;
  dst?: string;
  /** Known actions by name; others as `action <n>`. */
  action: RuleAction | `action ${number}`;
  /** 0 (RT_TABLE_UNSPEC) for rules that look up no table. */
  table: number;
  priority: number;
  protocol: number;
  /** FIB_RULE_* flags (e.g. invert); 0 for ours. */
  flags: number;
  /** Anything else set on the rule (fwmark, iif/oif, goto, l3mdev, …): such a rule is never one of ours. */
  other: number[];
}

function familyOfRule(r: RuleSpec): 2 | 10 {
  const fams = [r.src, r.dst].filter((x): x is string => x !== undefined).map((p) => parseCidr(p).family);
  if (fams.length === 2 && fams[0] !== fams[1]) throw new TypeError(`rule: from ${r.src} and to ${r.dst} are of different families`);
  const f = (fams[0] ?? r.family) as 2 | 10 | undefined;
  if (f === undefined) throw new TypeError('rule: family is required when neither src nor dst is given');
  if (r.family !== undefined && r.family !== f) throw new TypeError(`rule: family ${r.family} does not match ${r.src ?? r.dst}`);
  return f;
}

export function encodeRule(r: RuleSpec): Buffer {
  const family = familyOfRule(r);
  const action = r.action ?? 'lookup';
  if (action === 'lookup' && r.table === undefined) throw new TypeError('rule: lookup needs a table');
  const src = r.src !== undefined ? parseCidr(r.src) : undefined;
  const dst = r.dst !== undefined ? parseCidr(r.dst) : undefined;
  const table = r.table ?? RT_TABLE.UNSPEC;
  const h = Buffer.alloc(FIB_RULE_HDRLEN);
  h.writeUInt8(family, 0);
  h.writeUInt8(dst?.prefixlen ?? 0, 1);
  h.writeUInt8(src?.prefixlen ?? 0, 2);
  h.writeUInt8(table < 256 ? table : RT_TABLE.UNSPEC, 4);
  h.writeUInt8(ACTION_CODE[action], 7);
  const a: Buffer[] = [h];
  if (src && src.prefixlen > 0) a.push(attr(FRA.SRC, ipToBytes(src.address)));
  if (dst && dst.prefixlen > 0) a.push(attr(FRA.DST, ipToBytes(dst.address)));
  if (table >= 256) a.push(attr(FRA.TABLE, u32(table)));
  if (r.priority !== undefined) a.push(attr(FRA.PRIORITY, u32(r.priority)));
  a.push(attr(FRA.PROTOCOL, u8(r.protocol ?? RTPROT_VISP)));
  return Buffer.concat(a);
}

export const describeRule = (r: RuleSpec): string =>
  `${r.priority ?? '?'}: from ${r.src ?? 'all'}${r.dst ? ` to ${r.dst}` : ''} ${(r.action ?? 'lookup') === 'lookup' ? `lookup ${r.table}` : r.action}`;

/** Add a rule; an identical rule already there is success (the request carries NLM_F_EXCL, so no duplicate is made). */
export async function ruleAdd(s: NetlinkSocket, r: RuleSpec, signal?: AbortSignal): Promise<void> {
  const payload = encodeRule(r);
  try {
    await s.request(RTM_RULE.NEWRULE, NLM_F.CREATE | NLM_F.EXCL, payload, { op: 'ruleAdd', object: describeRule(r), signal });
  } catch (e) {
    if (e instanceof KernelError && e.errnoName === 'EEXIST') return;
    throw e;
  }
}

/** Delete the rule matching `r` (the kernel matches on what is set); already gone is success. */
export async function ruleDel(s: NetlinkSocket, r: RuleSpec, signal?: AbortSignal): Promise<void> {
  const payload = encodeRule(r);
  try {
    await s.request(RTM_RULE.DELRULE, 0, payload, { op: 'ruleDel', object: describeRule(r), signal });
  } catch (e) {
    if (e instanceof KernelError && (e.errnoName === 'ENOENT' || e.errnoName === 'ESRCH')) return;
    throw e;
  }
}

/** Every rule of one family (or both: AF_UNSPEC), in the kernel's order. */
export async function ruleList(s: NetlinkSocket, family: 0 | 2 | 10 = 0, signal?: AbortSignal): Promise<Rule[]> {
  const h = Buffer.alloc(FIB_RULE_HDRLEN);
  h.writeUInt8(family, 0);
  const msgs = await s.dump(RTM_RULE.GETRULE, h, { op: 'ruleList', object: s.netns ? `netns ${s.netns}` : 'rules', signal });
  return msgs.filter((m) => m.type === RTM_RULE.NEWRULE).map((m) => decodeRule(m.payload));
}

const KNOWN = new Set<number>([FRA.SRC, FRA.DST, FRA.TABLE, FRA.PRIORITY, FRA.PROTOCOL]);
// The kernel dumps FRA_SUPPRESS_PREFIXLEN / _IFGROUP as -1 when unset.
const FRA_SUPPRESS_IFGROUP = 13, FRA_SUPPRESS_PREFIXLEN = 14;
const unset = (t: number, d: Buffer): boolean =>
  d.length === 0 || ((t === FRA_SUPPRESS_PREFIXLEN || t === FRA_SUPPRESS_IFGROUP) && d.length >= 4 && d.readUInt32LE(0) === 0xffffffff);
const ACTION_NAME = new Map<number, RuleAction>(Object.entries(ACTION_CODE).map(([k, v]) => [v, k as RuleAction]));

export function decodeRule(p: Buffer): Rule {
  const family = p.readUInt8(0), dstLen = p.readUInt8(1), srcLen = p.readUInt8(2), hdrTable = p.readUInt8(4), act = p.readUInt8(7);
  const flags = p.readUInt32LE(8);
  const a = parseAttrs(p, FIB_RULE_HDRLEN);
  const pfx = (t: number, len: number): string | undefined => {
    const raw = a.get(t);
    return raw ? `${bytesToIp(raw)}/${len}` : undefined;
  };
  const r: Rule = {
    family,
    action: ACTION_NAME.get(act) ?? `action ${act}`,
    table: readU32(a.get(FRA.TABLE)) ?? hdrTable,
    priority: readU32(a.get(FRA.PRIORITY)) ?? 0,
    protocol: readU8(a.get(FRA.PROTOCOL)) ?? 0,
    flags,
    other: [...a.keys()].filter((t) => !KNOWN.has(t) && !unset(t, a.get(t)!)).sort((x, y) => x - y),
  };
  const src = pfx(FRA.SRC, srcLen);
  if (src) r.src = src;
  const dst = pfx(FRA.DST, dstLen);
  if (dst) r.dst = dst;
  return r;
}
