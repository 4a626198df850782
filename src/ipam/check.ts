// A full scan of everything the IPAM keeps, at one store revision, against
// the invariants the allocator promises. Used by the crash, concurrency and
// property tests, and meant for operators ("is my store sane?") too.
//
//  - no two block records overlap; none lies outside its pool;
//  - no two identifier runs of one kind overlap; none lies outside 0..2^bits-1;
//  - every underlay pair record sits under its one canonical key (so no pair
//    is held twice in a space), and is held by the link that carries it;
//  - every slice header has its links record and vice versa, every block and
//    run it names exists, is live and is owned by it, and every live record
//    is named by its owner (no half-allocations, no leaks);
//  - within a slice: subnets inside the slice's block of their class and
//    family and disjoint; addresses inside their subnet, usable, unique;
//    every identifier inside the slice's runs, used once, none left unused;
//    every pair a link carries held by the slice, used by one link, none unused;
//  - every pool, identifier kind or pair space with records has its guard key.

import type { Entry, Store } from '../store/index.js';
import { parseConfig, ID_SPACE, type IpamConfig } from './config.js';
import { unusableReason } from './host-rules.js';
import { containsAddress, containsPrefix, formatAddress, lastOf, parseAddress, parsePrefix, formatPrefix, type Prefix } from './prefix.js';
import {
  BLOCK_FIELDS,
  CONFIG_KEY,
  decode,
  IPAM_PREFIX,
  keys,
  LINKS_FIELDS,
  PAIR_FIELDS,
  RUN_FIELDS,
  SLICE_FIELDS,
  type BlockRecord,
  type IdRunRecord,
  type PairRecord,
  type SliceLinksRecord,
  type SliceRecord,
} from './records.js';
import { IDENTIFIER_KINDS, type IdentifierKind, type IpamConfigSpec } from './types.js';

export interface Violation {
  readonly key: string;
  readonly problem: string;
}

interface Parsed {
  readonly config?: IpamConfig;
  readonly blocks: { e: Entry; r: BlockRecord; p: Prefix }[];
  readonly runs: { e: Entry; r: IdRunRecord }[];
  readonly pairs: { e: Entry; r: PairRecord }[];
  readonly headers: Map<string, { e: Entry; r: SliceRecord }>;
  readonly links: Map<string, { e: Entry; r: SliceLinksRecord }>;
  readonly guards: Set<string>;
}

export async function checkInvariants(store: Store, opts: { signal?: AbortSignal } = {}): Promise<Violation[]> {
  const snap = await store.read([{ prefix: IPAM_PREFIX }], opts);
  const out: Violation[] = [];
  const add = (key: string, problem: string): void => void out.push({ key, problem });
  const parsed = parseAll(snap.results[0]!, add);
  checkBlocks(parsed, add);
  checkRuns(parsed, add);
  checkPairs(parsed, add);
  checkSlices(parsed, add);
  return out;
}

function parseAll(entries: readonly Entry[], add: (k: string, p: string) => void): Parsed {
  const p: Parsed = { blocks: [], runs: [], pairs: [], headers: new Map(), links: new Map(), guards: new Set() };
  let config: IpamConfig | undefined;
  for (const e of entries) {
    try {
      const [, kind] = e.key.split('/', 3);
      if (e.key === CONFIG_KEY) config = parseConfig(decode<IpamConfigSpec>(e, ['pools']));
      else if (kind === 'block-sets' || kind === 'id-sets' || kind === 'pair-sets') p.guards.add(e.key);
      else if (kind === 'blocks') {
        const r = decode<BlockRecord>(e, BLOCK_FIELDS);
        const prefix = parsePrefix(r.prefix, e.key);
        if (keys.block(r.pool, prefix) !== e.key) add(e.key, `record names pool "${r.pool}" ${r.prefix}, which belongs under ${keys.block(r.pool, prefix)}`);
        p.blocks.push({ e, r, p: prefix });
      } else if (kind === 'ids') {
        const r = decode<IdRunRecord>(e, RUN_FIELDS);
        if (keys.idRun(r.kind, r.start) !== e.key) add(e.key, `record names ${r.kind} ${r.start}, which belongs under ${keys.idRun(r.kind, r.start)}`);
        p.runs.push({ e, r });
      } else if (kind === 'pairs') {
        const r = decode<PairRecord>(e, PAIR_FIELDS);
        const problem = pairProblem(r);
        if (problem) add(e.key, problem);
        else if (keys.pair(r.space, r) !== e.key) add(e.key, `record names ${r.space} pair ${r.a} ${r.b}, which belongs under ${keys.pair(r.space, r)}`);
        p.pairs.push({ e, r });
      } else if (kind === 'slices') {
        const r = decode<SliceRecord>(e, SLICE_FIELDS);
        if (keys.slice(r.slice) !== e.key) add(e.key, `header names slice "${r.slice}"`);
        p.headers.set(r.slice, { e, r });
      } else if (kind === 'slice-links') {
        p.links.set(decodeURIComponent(e.key.slice(e.key.lastIndexOf('/') + 1)), { e, r: decode<SliceLinksRecord>(e, LINKS_FIELDS) });
      } else add(e.key, 'unknown key under ipam/');
    } catch (err) {
      add(e.key, (err as Error).message);
    }
  }
  if (!config && entries.length > 0) add(CONFIG_KEY, 'records exist but there is no configuration');
  return { ...p, ...(config ? { config } : {}) };
}

function checkBlocks(p: Parsed, add: (k: string, m: string) => void): void {
  const sorted = [...p.blocks].sort((a, b) => (a.p.family !== b.p.family ? (a.p.family < b.p.family ? -1 : 1) : a.p.start < b.p.start ? -1 : a.p.start > b.p.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (a.p.family === b.p.family && lastOf(a.p) >= b.p.start) add(b.e.key, `overlaps ${a.e.key} (${a.r.prefix}, slice "${a.r.slice}")`);
  }
  for (const { e, r, p: prefix } of p.blocks) {
    if (!p.guards.has(keys.blockSet(r.pool))) add(e.key, `pool "${r.pool}" has blocks but no guard key`);
    checkHold(e, r, add);
    const pool = p.config?.pools.find((x) => x.name === r.pool);
    if (!pool) add(e.key, `pool "${r.pool}" is not configured`);
    else if (!containsPrefix(pool.prefix, prefix) || pool.class !== r.class) add(e.key, `${r.prefix} (${r.class}) is not inside ${pool.class} pool ${formatPrefix(pool.prefix)}`);
    if (r.state !== 'live') continue;
    const owner = p.headers.get(r.slice);
    if (!owner) add(e.key, `live block of slice "${r.slice}", which has no header (leak)`);
    else if (!owner.r.blocks.some((b) => b.pool === r.pool && b.prefix === r.prefix)) add(e.key, `live block not named by slice "${r.slice}" (leak)`);
  }
}

function checkRuns(p: Parsed, add: (k: string, m: string) => void): void {
  for (const kind of IDENTIFIER_KINDS) {
    const runs = p.runs.filter((x) => x.r.kind === kind).sort((a, b) => a.r.start - b.r.start);
    if (runs.length > 0 && !p.guards.has(keys.idSet(kind))) add(keys.idsOf(kind), `${kind} has runs but no guard key`);
    for (let i = 0; i < runs.length; i++) {
      const { e, r } = runs[i]!;
      const prev = runs[i - 1];
      if (prev && prev.r.start + prev.r.count > r.start) add(e.key, `overlaps ${prev.e.key} (slice "${prev.r.slice}")`);
      if (!Number.isInteger(r.count) || r.count < 1 || r.start < ID_SPACE[kind].first || r.start + r.count - 1 > ID_SPACE[kind].last) add(e.key, `run ${r.start}+${r.count} is not a valid ${kind} run`);
      checkHold(e, r, add);
      if (r.state !== 'live') continue;
      const owner = p.headers.get(r.slice);
      if (!owner) add(e.key, `live run of slice "${r.slice}", which has no header (leak)`);
      else if (!owner.r.idRuns.some((x) => x.kind === kind && x.start === r.start && x.count === r.count)) add(e.key, `live run not named by slice "${r.slice}" (leak)`);
    }
  }
}

/** Why a pair is not in canonical form (both addresses canonical, one family, a before b), if it is not. */
function pairProblem(r: { a: string; b: string }): string | undefined {
  try {
    const [a, b] = [parseAddress(r.a, 'a'), parseAddress(r.b, 'b')];
    if (a.family !== b.family) return `pair ${r.a} ${r.b} mixes families`;
    if (formatAddress(a.family, a.value) !== r.a || formatAddress(b.family, b.value) !== r.b) return `pair ${r.a} ${r.b} is not in canonical form`;
    if (a.value >= b.value) return `pair ${r.a} ${r.b} is not in ascending order`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function checkPairs(p: Parsed, add: (k: string, m: string) => void): void {
  for (const { e, r } of p.pairs) {
    if (!p.guards.has(keys.pairSet(r.space))) add(e.key, `${r.space} has pairs but no guard key`);
    checkHold(e, r, add);
    if (r.state !== 'live') continue;
    const owner = p.headers.get(r.slice);
    if (!owner) add(e.key, `live pair of slice "${r.slice}", which has no header (leak)`);
    else if (!(owner.r.pairs ?? []).some((x) => x.space === r.space && x.a === r.a && x.b === r.b)) add(e.key, `live pair not named by slice "${r.slice}" (leak)`);
  }
}

function checkHold(e: Entry, r: { state: string; until?: number }, add: (k: string, m: string) => void): void {
  if (r.state === 'cooldown' && typeof r.until !== 'number') add(e.key, 'cooling down without an end time');
  if (r.state !== 'live' && r.state !== 'cooldown') add(e.key, `unknown state ${JSON.stringify(r.state)}`);
}

function checkSlices(p: Parsed, add: (k: string, m: string) => void): void {
  for (const [slice, l] of p.links) if (!p.headers.has(slice)) add(l.e.key, 'links without a slice header (half-allocation)');
  const blockByKey = new Map(p.blocks.map((b) => [b.e.key, b]));
  const runByKey = new Map(p.runs.map((x) => [x.e.key, x]));
  const pairByKey = new Map(p.pairs.map((x) => [x.e.key, x]));
  for (const [slice, { e, r: h }] of p.headers) {
    if (h.state !== 'allocated' && h.state !== 'provisioned') add(e.key, `unknown state ${JSON.stringify(h.state)}`);
    if (h.state === 'allocated' && typeof h.expiresAt !== 'number') add(e.key, 'allocated without an expiry time');
    const blocks = h.blocks.map((b) => {
      const prefix = parsePrefix(b.prefix, e.key);
      const rec = blockByKey.get(keys.block(b.pool, prefix));
      if (!rec || rec.r.state !== 'live' || rec.r.slice !== slice) add(e.key, `names block ${b.prefix} in pool "${b.pool}", which it does not hold (half-allocation)`);
      return { ...b, p: prefix };
    });
    for (const run of h.idRuns) {
      const rec = runByKey.get(keys.idRun(run.kind, run.start));
      if (!rec || rec.r.state !== 'live' || rec.r.slice !== slice || rec.r.count !== run.count) add(e.key, `names ${run.kind} run ${run.start}+${run.count}, which it does not hold (half-allocation)`);
    }
    for (const pair of h.pairs ?? []) {
      const rec = pairByKey.get(keys.pair(pair.space, pair));
      if (!rec || rec.r.state !== 'live' || rec.r.slice !== slice) add(e.key, `names ${pair.space} pair ${pair.a} ${pair.b}, which it does not hold (half-allocation)`);
    }
    const links = p.links.get(slice);
    if (!links) {
      add(e.key, 'header without links (half-allocation)');
      continue;
    }
    checkSliceContents(e.key, h, blocks, links.r, add);
    checkSlicePairs(e.key, slice, h, links.r, pairByKey, add);
  }
}

function checkSliceContents(
  key: string,
  h: SliceRecord,
  blocks: readonly { class: string; family: string; p: Prefix }[],
  l: SliceLinksRecord,
  add: (k: string, m: string) => void,
): void {
  const subnets: { p: Prefix; link: string }[] = [];
  const addresses = new Map<string, string>();
  const used = new Map<IdentifierKind, number[]>(IDENTIFIER_KINDS.map((k) => [k, []]));
  if (h.groupId !== undefined) used.get('groupId')!.push(h.groupId);
  for (const link of l.links) {
    if (link.shape === 'p2p' && link.interfaces.length !== 2) add(key, `link "${link.name}": point-to-point with ${link.interfaces.length} interfaces`);
    if (link.greKey !== undefined) used.get('greKey')!.push(link.greKey);
    if (link.vni !== undefined) used.get('vni')!.push(link.vni);
    for (const family of ['ipv4', 'ipv6'] as const) {
      const s = link[family];
      if (!s) continue;
      const p = parsePrefix(s.prefix, `${key} link ${link.name}`);
      if (!blocks.some((b) => b.class === s.class && b.family === family && containsPrefix(b.p, p))) add(key, `link "${link.name}": ${s.prefix} is outside the slice's ${s.class} ${family} block`);
      const clash = subnets.find((o) => containsPrefix(o.p, p) || containsPrefix(p, o.p));
      if (clash) add(key, `link "${link.name}": ${s.prefix} overlaps link "${clash.link}"'s ${formatPrefix(clash.p)}`);
      subnets.push({ p, link: link.name });
      for (const ifc of link.interfaces) {
        const text = ifc[family];
        if (text === undefined) {
          add(key, `link "${link.name}" interface "${ifc.name}": no ${family} address`);
          continue;
        }
        const [addr, len] = text.split('/');
        const a = parseAddress(addr!, key);
        const why = containsAddress(p, a) ? unusableReason(family, p.length, a.value - p.start) : undefined;
        if (Number(len) !== p.length || !containsAddress(p, a)) add(key, `link "${link.name}" interface "${ifc.name}": ${text} is not in ${s.prefix}`);
        else if (why) add(key, `link "${link.name}" interface "${ifc.name}": ${text} is ${why}`);
        const other = addresses.get(`${family}:${a.value}`);
        if (other) add(key, `link "${link.name}" interface "${ifc.name}": ${addr} is also ${other}'s`);
        addresses.set(`${family}:${a.value}`, `${link.name}/${ifc.name}`);
      }
    }
  }
  for (const kind of IDENTIFIER_KINDS) {
    const ids = used.get(kind)!;
    const runs = h.idRuns.filter((r) => r.kind === kind);
    const held = runs.reduce((n, r) => n + r.count, 0);
    if (new Set(ids).size !== ids.length) add(key, `${kind}: an identifier is used twice`);
    for (const id of ids) if (!runs.some((r) => id >= r.start && id < r.start + r.count)) add(key, `${kind} ${id} is outside the slice's runs`);
    if (held !== ids.length) add(key, `${kind}: holds ${held} but uses ${ids.length} (leak)`);
  }
}

/** Every pair a link carries is held by the slice for that link, once; every pair the slice holds is carried. */
function checkSlicePairs(
  key: string,
  slice: string,
  h: SliceRecord,
  l: SliceLinksRecord,
  pairByKey: ReadonlyMap<string, { r: PairRecord }>,
  add: (k: string, m: string) => void,
): void {
  const used = new Map<string, string>();
  for (const link of l.links) {
    for (const [a, b] of link.pairs?.pairs ?? []) {
      const k = keys.pair(link.pairs!.space, { a: a!, b: b! });
      const other = used.get(k);
      if (other !== undefined) add(key, `link "${link.name}": ${link.pairs!.space} pair ${a} ${b} is also link "${other}"'s`);
      used.set(k, link.name);
      const rec = pairByKey.get(k)?.r;
      if (!rec || rec.slice !== slice || rec.state !== 'live') add(key, `link "${link.name}": ${link.pairs!.space} pair ${a} ${b} is not held by the slice`);
      else if (rec.link !== link.name) add(key, `link "${link.name}": ${link.pairs!.space} pair ${a} ${b} is held for link "${rec.link}"`);
    }
  }
  for (const pair of h.pairs ?? []) {
    if (!used.has(keys.pair(pair.space, pair))) add(key, `${pair.space} pair ${pair.a} ${pair.b}: held but no link carries it (leak)`);
  }
}
