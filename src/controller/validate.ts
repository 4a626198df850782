// Request validation. Runs before any allocation; every error names the
// field (topology.links[2].members[0].node) and the reason, so an aggregate
// manager can show it to the experimenter as it is. Absent and empty are
// one to the API (proto3), which leaves empty strings out before they come
// here: an empty string that reaches this file was given (a topology file's
// `netns: ""`) and is checked like any other.
import { isIP } from 'node:net';
import { InvalidSpecError } from '../errors.js';
import { ID, ID_RULE, ifnameProblem } from '../endpoint/names.js';
import { suggest } from '../suggest.js';
import { isLayer3, LAYER2_KINDS, wordsOr } from '../tunnel/kinds.js';
import { effectiveProperties, propertiesProblem, PROPERTY_FIELD, shapedOnly, type LinkProperties } from '../shape/properties.js';
import type { SliceRequest, Topology, TopologyLink } from './model.js';

export { ID };

export const MAX_LEASE_MS = 30 * 24 * 3600_000;
export const DEFAULT_LEASE_MS = 3600_000;
const MTU_RANGE = [576, 9000] as const;
const PREFIX_RANGE = { ipv4: [16, 31], ipv6: [48, 127] } as const;
const FAMILIES = [['ipv4', 4], ['ipv6', 6]] as const;

const bad = (field: string, why: string): InvalidSpecError => new InvalidSpecError(`${field}: ${why}`, { field });

export function checkSliceId(slice: string, field = 'slice'): void {
  if (!slice) throw bad(field, 'is required');
  if (!ID.test(slice)) throw bad(field, `${JSON.stringify(slice)} ${ID_RULE}`);
}

/** RFC 3339 end time → ms; empty → now + default lease. */
export function parseEndTime(text: string | undefined, now: number, field = 'end_time'): number {
  if (!text) return now + DEFAULT_LEASE_MS;
  const t = parseRfc3339(text);
  if (typeof t === 'string') throw bad(field, `${JSON.stringify(text)} is not an RFC 3339 time (e.g. 2030-01-01T00:00:00Z): ${t}`);
  if (t <= now) throw bad(field, `${text} is in the past`);
  if (t - now > MAX_LEASE_MS) throw bad(field, `${text} is more than 30 days away`);
  return t;
}

/**
 * When a run-time change is to happen (`at`, RFC 3339): undefined for now
 * (no time, or one already passed: a change asked for "at 10:00:00" that
 * arrives a few ms late is made at once, as Emulab's event system does), else
 * the time. Not more than 30 days ahead (no slice lives longer).
 */
export function parseAt(text: string | undefined, now: number, field = 'at'): number | undefined {
  if (!text) return undefined;
  const t = parseRfc3339(text);
  if (typeof t === 'string') throw bad(field, `${JSON.stringify(text)} is not an RFC 3339 time (e.g. 2030-01-01T00:00:00Z): ${t}`);
  if (t <= now) return undefined;
  if (t - now > MAX_LEASE_MS) throw bad(field, `${text} is more than 30 days away`);
  return t;
}

// RFC 3339 section 5.6: date-time = full-date "T" full-time, with a time
// zone (Z or ±hh:mm), T and Z in either case. Every field is range-checked
// here, not by Date.parse (which turns hour 24 into the next day's 00:00).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Milliseconds since the epoch (a fraction finer than 1 ms is cut off), or why the text is not an RFC 3339 date-time. */
function parseRfc3339(text: string): number | string {
  const m = RFC3339.exec(text);
  if (!m) return 'expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm)';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const zone = m[8];
  if (!zone) return 'no time zone (add Z for UTC, or an offset such as +01:00)';
  if (month < 1 || month > 12) return `month ${m[2]} is not 01–12`;
  const days = month === 2 && isLeap(year) ? 29 : MONTH_DAYS[month - 1]!;
  if (day < 1 || day > days) return `day ${m[3]} is not 01–${days} (${year}-${m[2]} has ${days} days)`;
  if (hour > 23) return `hour ${m[4]} is not 00–23`;
  if (minute > 59) return `minute ${m[5]} is not 00–59`;
  if (second === 60) return 'second 60 (a leap second) is not accepted; use :59';
  if (second > 59) return `second ${m[6]} is not 00–59`;
  let offset = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23) return `offset hour ${zone.slice(1, 3)} is not 00–23`;
    if (om > 59) return `offset minute ${zone.slice(4, 6)} is not 00–59`;
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const ms = m[7] ? Number(`${m[7].slice(1)}00`.slice(0, 3)) : 0;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // also years 0–99, which Date.UTC would read as 1900–1999
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime() - offset;
}

/**
 * Structure and names; placement (physical nodes, kinds) is checked against
 * the node registry later. The one validator of a topology: the API's
 * requests and the YAML topology file (which maps `field` back to its line)
 * both come here, so a rule and its message are written once.
 */
export function validateTopology(t: Topology | undefined, field = 'topology'): asserts t is Topology {
  if (!t) throw bad(field, 'is required');
  if (!t.nodes.length) throw bad(`${field}.nodes`, 'at least one node is required');
  const nodes = new Set<string>();
  const netns = new Map<string, string>();
  t.nodes.forEach((n, i) => {
    const f = `${field}.nodes[${i}]`;
    if (!ID.test(n.id)) throw bad(`${f}.id`, `${JSON.stringify(n.id)} ${ID_RULE}`);
    if (nodes.has(n.id)) throw bad(`${f}.id`, `duplicate node id "${n.id}"`);
    nodes.add(n.id);
    if (!n.node) throw bad(`${f}.node`, 'the physical node is required');
    if (!ID.test(n.node)) throw bad(`${f}.node`, `${JSON.stringify(n.node)} ${ID_RULE}`);
    if (n.netns !== undefined) {
      if (!ID.test(n.netns)) throw bad(`${f}.netns`, `${JSON.stringify(n.netns)} is not a namespace name: it ${ID_RULE}`);
      const other = netns.get(n.netns);
      if (other) throw bad(`${f}.netns`, `namespace "${n.netns}" is already used by node "${other}"`);
      netns.set(n.netns, n.id);
    }
  });
  if (!t.links.length) throw bad(`${field}.links`, 'at least one link is required');
  const links = new Map<string, string>(); // link id → its field
  const ifnames = new Map<string, string>(); // "node/ifname" → link
  t.links.forEach((l, i) => {
    const f = `${field}.links[${i}]`;
    if (!ID.test(l.id)) throw bad(`${f}.id`, `${JSON.stringify(l.id)} ${ID_RULE}`);
    const first = links.get(l.id);
    if (first !== undefined) throw bad(`${f}.id`, `duplicate link id "${l.id}" (also ${first})`);
    links.set(l.id, f);
    if (l.egress) {
      // The other end is the egress node itself.
      if (l.members.length !== 1) throw bad(`${f}.members`, `an egress link has exactly 1 member (the slice's router; the egress node is the other end), has ${l.members.length}`);
      if (!l.egress.node) throw bad(`${f}.egress.node`, 'the egress node is required');
      if (!ID.test(l.egress.node)) throw bad(`${f}.egress.node`, `${JSON.stringify(l.egress.node)} ${ID_RULE}`);
      if (l.addressClass !== 'public') throw bad(`${f}.address_class`, `an egress link's addresses are announced upstream: it must be PUBLIC, not ${l.addressClass.toUpperCase()}`);
      if (isLayer3(l.encapsulation)) throw bad(`${f}.encapsulation`, `${l.encapsulation} is layer 3; an egress link ends on the egress node's bridge and needs ${wordsOr(LAYER2_KINDS)}`);
      if (l.egress.routes !== 'default' && l.egress.routes !== 'full') throw bad(`${f}.egress.routes`, `must be default or full, got ${JSON.stringify(l.egress.routes)}`);
    } else if (l.members.length < 2) throw bad(`${f}.members`, `a link needs at least 2 members, has ${l.members.length}`);
    if (isLayer3(l.encapsulation) && l.members.length > 2) {
      throw bad(`${f}.encapsulation`, `${l.encapsulation} is layer 3 and point-to-point only; a LAN of ${l.members.length} needs ${wordsOr(LAYER2_KINDS)}`);
    }
    // (The API reads an MTU or prefix length of 0 as "not set"; here any number given is checked.)
    if (l.mtu !== undefined && (l.mtu < MTU_RANGE[0] || l.mtu > MTU_RANGE[1])) throw bad(`${f}.mtu`, `${l.mtu} is outside ${MTU_RANGE[0]}–${MTU_RANGE[1]}`);
    for (const [fam, a] of [['ipv4', l.ipv4], ['ipv6', l.ipv6]] as const) {
      if (a?.prefixLength === undefined) continue;
      const [min, max] = PREFIX_RANGE[fam];
      if (a.prefixLength > max || a.prefixLength < min) throw bad(`${f}.${fam}.prefix_length`, `/${a.prefixLength} is outside /${min}–/${max}`);
    }
    if (!l.ipv4 && !l.ipv6) throw bad(f, 'neither ipv4 nor ipv6 is enabled');
    checkLinkProperties(l, f);
    const seen = new Set<string>();
    l.members.forEach((m, j) => {
      const mf = `${f}.members[${j}]`;
      if (!nodes.has(m.node)) {
        const near = suggest(m.node, [...nodes]);
        throw bad(`${mf}.node`, `unknown node "${m.node}"${near ? ` (did you mean "${near}"?)` : ''}`);
      }
      if (seen.has(m.node)) throw bad(`${mf}.node`, `node "${m.node}" is a member twice`);
      seen.add(m.node);
      if (m.ifname !== undefined) {
        const p = ifnameProblem(m.ifname);
        if (p) throw bad(`${mf}.ifname`, `${JSON.stringify(m.ifname)} cannot be an interface name: it ${p}`);
        if (m.ifname === 'lo') throw bad(`${mf}.ifname`, '"lo" is the loopback interface');
        const key = `${m.node}/${m.ifname}`;
        const other = ifnames.get(key);
        if (other) throw bad(`${mf}.ifname`, `${m.ifname} on ${m.node} is already used by link "${other}"`);
        ifnames.set(key, l.id);
      }
      for (const [fam, v] of FAMILIES) {
        const a = m[fam];
        if (a !== undefined && isIP(a) !== v) throw bad(`${mf}.${fam}`, `${JSON.stringify(a)} is not an IPv${v} address${a.includes('/') ? ' (give it without a prefix length)' : ''}`);
      }
      for (const [fam, v] of FAMILIES) {
        if (m[fam] !== undefined && !l[fam]) throw bad(`${mf}.${fam}`, `the link has ${fam} switched off (no IPv${v} addressing)`);
      }
    });
  });
}

/**
 * A link's properties (docs/links.md): each value in range (the rule is
 * src/shape/properties.ts's), each member's direction as merged from the
 * link's and its own, and only where visp can enforce them from outside the
 * experiment: on a layer-2 link's node-side devices (a layer-3 tunnel device
 * lives in the experiment's namespace, where its owner could lift a shaper).
 */
export function checkLinkProperties(l: Pick<TopologyLink, 'properties' | 'members' | 'encapsulation' | 'guaranteed' | 'egress'>, f: string): void {
  const check = (p: LinkProperties | undefined, pf: string): void => {
    const problem = p && propertiesProblem(p);
    if (problem) throw bad(`${pf}.${PROPERTY_FIELD[problem.field]}`, problem.why);
  };
  check(l.properties, `${f}.properties`);
  // A member's own fields are judged with the link's they complete (its jitter against the link's latency).
  l.members.forEach((m, j) => { if (m.properties) check(effectiveProperties(l.properties, m.properties), `${f}.members[${j}].properties`); });
  if (l.guaranteed) {
    // Every direction is reserved by its capacity: one without would reserve nothing and be shaped by nothing.
    const bare = l.members.find((m) => !effectiveProperties(l.properties, m.properties)?.capacity);
    if (bare || (l.egress && !l.properties?.capacity)) {
      throw bad(`${f}.guaranteed`, `a guaranteed link needs a capacity in every direction; ${bare ? `what ${bare.node} sends has` : 'the egress node\'s end (the link\'s own properties) has'} none`);
    }
  }
  if (isShaped(l) && isLayer3(l.encapsulation)) {
    throw bad(`${f}.encapsulation`, `${l.encapsulation} is layer 3: its device is the experiment's own interface, where a shaper could be lifted; a link with properties needs ${wordsOr(LAYER2_KINDS)} (or auto)`);
  }
}

/** A link with properties (on the link, or a member's own). */
export const isShaped = (l: Pick<TopologyLink, 'properties' | 'members'>): boolean => !!shapedOnly(l.properties) || l.members.some((m) => !!shapedOnly(m.properties));

export function validateRequest(r: SliceRequest, now: number): number {
  checkSliceId(r.slice);
  validateTopology(r.topology);
  return parseEndTime(r.endTime, now);
}
