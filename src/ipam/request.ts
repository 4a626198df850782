// Validates a SliceSpec into a SliceRequest: every name checked, every
// explicit address parsed, every subnet sized, and one block request per
// class and family the slice uses. Nothing here looks at the store.

import { InvalidSpecError } from '../errors.js';
import { formatAddress, parseAddress, parsePrefix, BITS, type Family, type Prefix } from './prefix.js';
import type { Pacer } from './pacer.js';
import type { Pair } from './records.js';
import { subnetLength, type Shape } from './sizing.js';
import { ADDRESS_CLASSES, type AddressClass, type BlockSpec, type LinkChoice, type LinkSpec, type SliceSpec, type UnderlayPairsSpec } from './types.js';

export interface InterfaceRequest {
  readonly name: string;
  readonly explicit: Partial<Record<Family, bigint>>;
}

export interface SubnetRequest {
  readonly family: Family;
  readonly class: AddressClass;
  readonly length: number;
}

export interface PairsRequest {
  readonly space: string;
  /** Canonical, each in ascending order, no pair twice. */
  readonly pairs: readonly Pair[];
}

/** One way to carry the link (see LinkSpec.choices). */
export interface ChoiceRequest {
  readonly identifier?: 'greKey' | 'vni';
  readonly pairs?: PairsRequest;
}

export interface LinkRequest {
  readonly name: string;
  readonly shape: Shape;
  /** In order of preference; one (possibly empty) when the spec gave no choices. */
  readonly choices: readonly ChoiceRequest[];
  /** The spec gave `choices`: the allocation says which was taken. */
  readonly chooses: boolean;
  /** Where a refusal for the link's identifier or pairs points: `links[i].choices` or `links[i].pairs`. */
  readonly choiceField: string;
  readonly subnets: Partial<Record<Family, SubnetRequest>>;
  readonly interfaces: readonly InterfaceRequest[];
  readonly field: string;
}

export interface BlockRequest {
  readonly class: AddressClass;
  readonly family: Family;
  readonly pool?: string;
  readonly prefix?: Prefix;
  readonly prefixLength?: number;
  readonly field: string;
}

export interface SliceRequest {
  readonly slice: string;
  readonly blocks: readonly BlockRequest[];
  readonly links: readonly LinkRequest[];
  readonly groupId: boolean;
}

export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];
const MAX_LINKS = 100_000;
const MAX_MEMBERS = 65_536;
const MAX_CHOICES = 16;
/** A LAN of 700 members holds about this many pairs. */
const MAX_PAIRS = 250_000;
const SPACE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const CONTROL = /[\x00-\x1f\x7f]/;

const blockKey = (c: AddressClass, f: Family): string => `${c}/${f}`;

export function parseSliceSpec(spec: SliceSpec): SliceRequest {
  const slice = checkSpec(spec);
  return finish(spec, slice, spec.links.map(linkParser()));
}

/** parseSliceSpec, giving the event loop turns between links whenever `pace` says (a 10,000-link spec is ~50 ms of work). */
export async function parseSliceSpecPaced(spec: SliceSpec, pace: Pacer): Promise<SliceRequest> {
  const slice = checkSpec(spec);
  return finish(spec, slice, await pace.map(spec.links, linkParser()));
}

function checkSpec(spec: SliceSpec): string {
  if (typeof spec !== 'object' || spec === null) throw new InvalidSpecError('slice spec: expected an object', { field: 'spec' });
  const slice = checkName(spec.slice, 'slice', 256);
  if (!Array.isArray(spec.links)) throw new InvalidSpecError(`slice ${slice}: links: expected a list`, { field: 'links' });
  if (spec.links.length > MAX_LINKS) {
    throw new InvalidSpecError(`slice ${slice}: ${spec.links.length} links is more than the ${MAX_LINKS} one allocation may hold`, { field: 'links' });
  }
  return slice;
}

/** Parses links in order, refusing a name used twice. */
function linkParser(): (l: LinkSpec, i: number) => LinkRequest {
  const names = new Map<string, number>();
  return (l, i) => {
    const link = parseLink(l, `links[${i}]`);
    const dup = names.get(link.name);
    if (dup !== undefined) throw new InvalidSpecError(`links[${i}].name: link "${link.name}" is already links[${dup}]`, { field: `links[${i}].name` });
    names.set(link.name, i);
    return link;
  };
}

function finish(spec: SliceSpec, slice: string, links: LinkRequest[]): SliceRequest {
  checkExplicitUnique(links);
  if (spec.groupId !== undefined && typeof spec.groupId !== 'boolean') {
    throw new InvalidSpecError('groupId: expected true or false', { field: 'groupId' });
  }
  return { slice, links, blocks: blockRequests(spec.blocks ?? [], links), groupId: spec.groupId ?? true };
}

function checkName(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || CONTROL.test(v)) {
    throw new InvalidSpecError(`${field}: ${JSON.stringify(v)} must be 1..${max} printable characters`, { field });
  }
  return v;
}

function parseLink(l: LinkSpec, field: string): LinkRequest {
  if (typeof l !== 'object' || l === null) throw new InvalidSpecError(`${field}: expected an object`, { field });
  const name = checkName(l.name, `${field}.name`, 64);
  if (!Array.isArray(l.interfaces) || l.interfaces.length === 0 || l.interfaces.length > MAX_MEMBERS) {
    throw new InvalidSpecError(`${field} (${name}): interfaces: expected 1..${MAX_MEMBERS} interfaces`, { field: `${field}.interfaces` });
  }
  const shape: Shape = l.shape ?? (l.interfaces.length === 2 ? 'p2p' : 'lan');
  if (shape !== 'p2p' && shape !== 'lan') throw new InvalidSpecError(`${field}.shape: ${JSON.stringify(l.shape)} is not p2p or lan`, { field: `${field}.shape` });
  if (shape === 'p2p' && l.interfaces.length !== 2) {
    throw new InvalidSpecError(`${field} (${name}): a point-to-point link has exactly 2 interfaces, not ${l.interfaces.length}`, {
      field: `${field}.interfaces`,
    });
  }
  const chooses = l.choices !== undefined;
  if (chooses && (l.identifier !== undefined || l.pairs !== undefined)) {
    throw new InvalidSpecError(`${field}.choices: give either choices or identifier and pairs, not both`, { field: `${field}.choices` });
  }
  if (chooses && (!Array.isArray(l.choices) || l.choices.length === 0 || l.choices.length > MAX_CHOICES)) {
    throw new InvalidSpecError(`${field}.choices: expected a list of 1..${MAX_CHOICES} choices`, { field: `${field}.choices` });
  }
  const choices = chooses ? l.choices!.map((c, k) => parseChoice(c, `${field}.choices[${k}]`)) : [parseChoice(l, field)];
  const subnets: Partial<Record<Family, SubnetRequest>> = {};
  for (const family of FAMILIES) {
    const s = l[family];
    if (s === undefined) continue;
    const f = `${field}.${family}`;
    if (typeof s !== 'object' || s === null || !ADDRESS_CLASSES.includes(s.class)) {
      throw new InvalidSpecError(`${f}.class: expected one of ${ADDRESS_CLASSES.join(', ')}`, { field: `${f}.class` });
    }
    subnets[family] = { family, class: s.class, length: subnetLength(family, shape, l.interfaces.length, s, f) };
  }
  const ifNames = new Set<string>();
  const interfaces = l.interfaces.map((ifc, j): InterfaceRequest => {
    const f = `${field}.interfaces[${j}]`;
    if (typeof ifc !== 'object' || ifc === null) throw new InvalidSpecError(`${f}: expected an object`, { field: f });
    const ifName = checkName(ifc.name, `${f}.name`, 64);
    if (ifNames.has(ifName)) throw new InvalidSpecError(`${f}.name: interface "${ifName}" appears twice on link "${name}"`, { field: `${f}.name` });
    ifNames.add(ifName);
    const explicit: Partial<Record<Family, bigint>> = {};
    for (const family of FAMILIES) {
      const text = ifc[family];
      if (text === undefined) continue;
      const a = parseAddress(text, `${f}.${family}`);
      if (a.family !== family) {
        throw new InvalidSpecError(`${f}.${family}: ${text} is an ${a.family} address`, { field: `${f}.${family}` });
      }
      if (!subnets[family]) {
        throw new InvalidSpecError(`${f}.${family}: link "${name}" has no ${family} subnet, so ${text} cannot be assigned`, {
          field: `${f}.${family}`,
        });
      }
      explicit[family] = a.value;
    }
    return { name: ifName, explicit };
  });
  return { name, shape, choices, chooses, choiceField: `${field}.${chooses ? 'choices' : 'pairs'}`, subnets, interfaces, field };
}

function parseChoice(c: LinkChoice, field: string): ChoiceRequest {
  if (typeof c !== 'object' || c === null) throw new InvalidSpecError(`${field}: expected an object`, { field });
  if (c.identifier !== undefined && c.identifier !== 'greKey' && c.identifier !== 'vni') {
    throw new InvalidSpecError(`${field}.identifier: ${JSON.stringify(c.identifier)} is not greKey or vni`, { field: `${field}.identifier` });
  }
  return { ...(c.identifier ? { identifier: c.identifier } : {}), ...(c.pairs !== undefined ? { pairs: parsePairs(c.pairs, `${field}.pairs`) } : {}) };
}

function parsePairs(p: UnderlayPairsSpec, field: string): PairsRequest {
  if (typeof p !== 'object' || p === null) throw new InvalidSpecError(`${field}: expected an object`, { field });
  if (typeof p.space !== 'string' || !SPACE.test(p.space)) {
    throw new InvalidSpecError(`${field}.space: ${JSON.stringify(p.space)} is not a space name (lower-case letters, digits, dashes; at most 32)`, { field: `${field}.space` });
  }
  if (!Array.isArray(p.pairs) || p.pairs.length === 0 || p.pairs.length > MAX_PAIRS) {
    throw new InvalidSpecError(`${field}.pairs: expected a list of 1..${MAX_PAIRS} address pairs`, { field: `${field}.pairs` });
  }
  const seen = new Map<string, number>();
  const pairs = p.pairs.map((pair, j): Pair => {
    const f = `${field}.pairs[${j}]`;
    if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidSpecError(`${f}: expected two addresses`, { field: f });
    const [x, y] = [parseAddress(pair[0]!, `${f}[0]`), parseAddress(pair[1]!, `${f}[1]`)];
    if (x.family !== y.family) throw new InvalidSpecError(`${f}: ${pair[0]} and ${pair[1]} are of different families`, { field: f });
    if (x.value === y.value) throw new InvalidSpecError(`${f}: both ends are ${pair[0]}`, { field: f });
    const [lo, hi] = x.value < y.value ? [x, y] : [y, x];
    const out = { a: formatAddress(lo.family, lo.value), b: formatAddress(hi.family, hi.value) };
    const text = `${out.a} ${out.b}`;
    const dup = seen.get(text);
    if (dup !== undefined) throw new InvalidSpecError(`${f}: ${out.a} and ${out.b} are already ${field}.pairs[${dup}]`, { field: f });
    seen.set(text, j);
    return out;
  });
  return { space: p.space, pairs };
}

function checkExplicitUnique(links: readonly LinkRequest[]): void {
  const seen = new Map<string, string>();
  links.forEach((l) =>
    l.interfaces.forEach((ifc, j) => {
      for (const family of FAMILIES) {
        const v = ifc.explicit[family];
        if (v === undefined) continue;
        const field = `${l.field}.interfaces[${j}].${family}`;
        const key = `${family}:${v}`;
        const other = seen.get(key);
        if (other) throw new InvalidSpecError(`${field}: ${formatAddress(family, v)} is already requested by ${other}`, { field });
        seen.set(key, field);
      }
    }),
  );
}

function blockRequests(specs: readonly BlockSpec[], links: readonly LinkRequest[]): BlockRequest[] {
  if (!Array.isArray(specs)) throw new InvalidSpecError('blocks: expected a list', { field: 'blocks' });
  const out = new Map<string, BlockRequest>();
  specs.forEach((b, i) => {
    const field = `blocks[${i}]`;
    if (typeof b !== 'object' || b === null) throw new InvalidSpecError(`${field}: expected an object`, { field });
    if (!ADDRESS_CLASSES.includes(b.class)) throw new InvalidSpecError(`${field}.class: expected one of ${ADDRESS_CLASSES.join(', ')}`, { field: `${field}.class` });
    if (!FAMILIES.includes(b.family)) throw new InvalidSpecError(`${field}.family: expected ipv4 or ipv6`, { field: `${field}.family` });
    const key = blockKey(b.class, b.family);
    if (out.has(key)) throw new InvalidSpecError(`${field}: a second ${b.class} ${b.family} block; a slice has one per class and family`, { field });
    if (b.pool !== undefined && typeof b.pool !== 'string') throw new InvalidSpecError(`${field}.pool: expected a pool name`, { field: `${field}.pool` });
    let prefix: Prefix | undefined;
    if (b.prefix !== undefined) {
      prefix = parsePrefix(b.prefix, `${field}.prefix`);
      if (prefix.family !== b.family) throw new InvalidSpecError(`${field}.prefix: ${b.prefix} is not ${b.family}`, { field: `${field}.prefix` });
    }
    const len = b.prefixLength;
    const bits = BITS[b.family as Family];
    if (len !== undefined && (!Number.isInteger(len) || len < 0 || len >= bits)) {
      throw new InvalidSpecError(`${field}.prefixLength: /${len} is not a block length for ${b.family}`, { field: `${field}.prefixLength` });
    }
    if (prefix && len !== undefined && len !== prefix.length) {
      throw new InvalidSpecError(`${field}: prefix ${b.prefix} and prefixLength /${len} disagree`, { field: `${field}.prefixLength` });
    }
    out.set(key, {
      class: b.class,
      family: b.family,
      ...(b.pool !== undefined ? { pool: b.pool } : {}),
      ...(prefix ? { prefix } : {}),
      ...(len !== undefined ? { prefixLength: len } : {}),
      field,
    });
  });
  for (const l of links) {
    for (const family of FAMILIES) {
      const s = l.subnets[family];
      if (s && !out.has(blockKey(s.class, family))) out.set(blockKey(s.class, family), { class: s.class, family, field: `${l.field}.${family}` });
    }
  }
  return [...out.values()];
}
