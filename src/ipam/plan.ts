// Plans one slice's whole allocation in memory: how each link is carried
// (choose.ts), blocks, subnets, addresses, identifiers and underlay pairs,
// or throws the first reason it cannot. The plan takes its
// space from the indices it is given (so a caller that fails to commit the
// plan must drop them); it writes nothing to the store.

import { InvalidSpecError, PoolExhaustedError } from '../errors.js';
import { assignAddresses } from './assign-addresses.js';
import { chooseAll, type Chosen, type PlannedPairs } from './choose.js';
import { rangeText, type IpamConfig } from './config.js';
import type { IdIndex } from './id-index.js';
import type { Run } from './id-space.js';
import type { Pacer } from './pacer.js';
import type { PairIndex } from './pair-index.js';
import { placeBlock } from './place-block.js';
import { placeSubnets, type SubnetNeed } from './place-subnets.js';
import type { PoolIndex } from './pool-index.js';
import { formatPrefix, type Prefix } from './prefix.js';
import type { BlockRecord, IdRunRecord, PairRef, SliceRecord } from './records.js';
import { FAMILIES, type BlockRequest, type SliceRequest } from './request.js';
import { coolingText } from './slice-view.js';
import type { BlockAllocation, IdentifierKind, InterfaceAllocation, LinkAllocation } from './types.js';

export interface PlanInput {
  readonly request: SliceRequest;
  readonly config: IpamConfig;
  readonly now: number;
  /** An up-to-date index for every pool of every class and family the request uses. */
  readonly pools: ReadonlyMap<string, PoolIndex>;
  /** An up-to-date index for every identifier kind the request may use (identifierKinds). */
  readonly ids: ReadonlyMap<IdentifierKind, IdIndex>;
  /** An up-to-date index for every underlay pair space the request names (pairSpaces). */
  readonly pairs: ReadonlyMap<string, PairIndex>;
}

export interface PlannedBlock {
  readonly index: PoolIndex;
  readonly prefix: Prefix;
  readonly record: BlockRecord;
}

export interface PlannedRuns {
  readonly index: IdIndex;
  readonly records: readonly IdRunRecord[];
  readonly cursor: number;
}

export interface Plan {
  readonly slice: SliceRecord;
  readonly links: readonly LinkAllocation[];
  readonly blocks: readonly PlannedBlock[];
  readonly ids: readonly PlannedRuns[];
  readonly pairs: readonly PlannedPairs[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NOUN: Readonly<Record<IdentifierKind, string>> = { greKey: 'GRE keys', vni: 'VNIs', groupId: 'link group ids' };

/** Every identifier kind a request may need, whichever of its links' choices are taken. */
export function identifierKinds(request: SliceRequest): IdentifierKind[] {
  const kinds = new Set<IdentifierKind>(request.groupId ? ['groupId'] : []);
  for (const l of request.links) for (const c of l.choices) if (c.identifier) kinds.add(c.identifier);
  return [...kinds];
}

/** Every underlay pair space a request names. */
export function pairSpaces(request: SliceRequest): string[] {
  return [...new Set(request.links.flatMap((l) => l.choices.flatMap((c) => (c.pairs ? [c.pairs.space] : []))))];
}

/** How many identifiers of each kind the chosen ways need. */
function identifierCounts(request: SliceRequest, chosen: readonly Chosen[]): Map<IdentifierKind, number> {
  const counts = new Map<IdentifierKind, number>();
  for (const { choice } of chosen) if (choice.identifier) counts.set(choice.identifier, (counts.get(choice.identifier) ?? 0) + 1);
  if (request.groupId) counts.set('groupId', 1);
  return counts;
}

/** The pools a block request may come from, in preference order. */
export function poolsFor(req: BlockRequest, config: IpamConfig): string[] {
  if (req.pool !== undefined && !config.pools.some((p) => p.name === req.pool)) {
    throw new InvalidSpecError(`${req.field}.pool: no pool named "${req.pool}" is configured`, { field: `${req.field}.pool` });
  }
  return config.pools
    .filter((p) => p.class === req.class && p.family === req.family && (req.pool === undefined || p.name === req.pool))
    .map((p) => p.name);
}

export function planSlice(input: PlanInput): Plan {
  const steps = planSteps(input);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * planSlice, giving the event loop a turn whenever `pace` says. It pauses
 * only between links, where no index is half-changed; what it took from the
 * indices before a pause is theirs until the transaction commits or the
 * caller drops them (as for any plan: another writer's commit meanwhile makes
 * this one's compare fail, and the transaction plans again).
 */
export async function planSlicePaced(input: PlanInput, pace: Pacer): Promise<Plan> {
  const steps = planSteps(input);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (pace.due()) await pace.pause();
  }
}

/** The plan, yielding after each link's share of the work: a point where the caller may pause. */
function* planSteps(input: PlanInput): Generator<void, Plan> {
  const { request, config, now } = input;
  const slice = request.slice;
  const subnets = FAMILIES.map(() => new Map<number, Prefix>());
  const blocks: PlannedBlock[] = [];
  const { chosen, planned: pairs } = chooseAll(request, input.pairs, now);

  for (const br of request.blocks) {
    const family = br.family;
    const needs: SubnetNeed[] = [];
    for (let i = 0; i < request.links.length; i++) {
      if ((i & 63) === 0) yield;
      const l = request.links[i]!;
      const s = l.subnets[family];
      if (s?.class !== br.class) continue;
      const pins = l.interfaces.map((x) => x.explicit[family]).filter((v): v is bigint => v !== undefined);
      needs.push({ id: i, length: s.length, pins, field: `${l.field}.${family}`, link: l.name });
    }
    const pools = poolsFor(br, config).map((name) => input.pools.get(name)!);
    const placed = placeBlock(br, { subnetLengths: needs.map((n) => n.length), pins: needs.flatMap((n) => n.pins) }, pools, now);
    const bySubnet = subnets[FAMILIES.indexOf(family)]!;
    for (const [i, p] of placeSubnets(placed.prefix, needs)) bySubnet.set(i, p);
    blocks.push({
      index: placed.index,
      prefix: placed.prefix,
      record: { pool: placed.index.pool.name, prefix: formatPrefix(placed.prefix), class: br.class, family, slice, state: 'live' },
    });
  }

  const ids = planIdentifiers(input, identifierCounts(request, chosen));
  const next = new Map(ids.map((p) => [p.index.kind, idStream(p.records)]));
  const links: LinkAllocation[] = [];
  for (let i = 0; i < request.links.length; i++) {
    if ((i & 15) === 0) yield;
    const l = request.links[i]!;
    const out: Mutable<Omit<LinkAllocation, 'interfaces'>> = { name: l.name, shape: l.shape };
    const addrs = l.interfaces.map((x): Mutable<InterfaceAllocation> => ({ name: x.name }));
    FAMILIES.forEach((family, fi) => {
      const s = l.subnets[family];
      if (!s) return;
      const subnet = subnets[fi]!.get(i)!;
      out[family] = { class: s.class, prefix: formatPrefix(subnet) };
      assignAddresses(subnet, l.interfaces, l.field).forEach((a, j) => (addrs[j]![family] = a));
    });
    const { index, choice } = chosen[i]!;
    if (choice.identifier) out[choice.identifier] = next.get(choice.identifier)!.next().value as number;
    if (choice.pairs) out.pairs = { space: choice.pairs.space, pairs: choice.pairs.pairs.map((p) => [p.a, p.b] as const) };
    if (l.chooses) out.choice = index;
    links.push({ ...out, interfaces: addrs });
  }

  const groupId = request.groupId ? (next.get('groupId')!.next().value as number) : undefined;
  const sliceRecord: SliceRecord = {
    slice,
    state: 'allocated',
    allocatedAt: now,
    expiresAt: now + config.allocationTtlMs,
    ...(groupId !== undefined ? { groupId } : {}),
    blocks: blocks.map((b): BlockAllocation => ({ class: b.record.class, family: b.record.family, pool: b.record.pool, prefix: b.record.prefix })),
    idRuns: ids.flatMap((p) => p.records.map((r) => ({ kind: r.kind, start: r.start, count: r.count }))),
    ...(pairs.length ? { pairs: pairs.flatMap((p) => p.records.map((r): PairRef => ({ space: r.space, a: r.a, b: r.b }))) } : {}),
  };
  return { slice: sliceRecord, links, blocks, ids, pairs };
}

function planIdentifiers(input: PlanInput, counts: ReadonlyMap<IdentifierKind, number>): PlannedRuns[] {
  const out: PlannedRuns[] = [];
  for (const [kind, count] of counts) {
    const index = input.ids.get(kind)!;
    const got = index.space.allocate(count, index.cursor);
    if (!got) {
      const freesAt = enoughFreeAt(index, count);
      throw new PoolExhaustedError(
        `${kind} range ${index.ranges.map(rangeText).join(', ')}: exhausted: asked for ${count} ${NOUN[kind]}, ${index.space.free()} free` +
          (freesAt === undefined ? '' : `; enough are ${coolingText(freesAt, input.now)}`),
        { field: kind === 'groupId' ? 'groupId' : 'links', ...(freesAt === undefined ? {} : { freesAt, retryAfterMs: freesAt - input.now }) },
      );
    }
    out.push({ index, cursor: got.cursor, records: got.runs.map((r: Run) => ({ kind, start: r.start, count: r.count, slice: input.request.slice, state: 'live' })) });
  }
  return out;
}

/** When enough identifiers will be free for `count`, as cooldowns end; undefined when they never will (too few in the ranges). */
function enoughFreeAt(index: IdIndex, count: number): number | undefined {
  let have = index.space.free();
  const cooling = [...index.holds.byKey.values()].filter((h) => h.record.state === 'cooldown').sort((a, b) => (a.record.until ?? 0) - (b.record.until ?? 0));
  for (const h of cooling) {
    have += h.record.count;
    if (have >= count) return h.record.until ?? 0;
  }
  return undefined;
}

function* idStream(records: readonly IdRunRecord[]): Generator<number> {
  for (const r of records) for (let k = 0; k < r.count; k++) yield r.start + k;
}
