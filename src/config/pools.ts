// The IPAM settings an operator writes: address pools, identifier ranges and
// the two timers (docs/config.md, "Pools"). They stand in a pools file
// (`visp controller --pools FILE`, `pools_file:`) or at the top of the
// controller's config, in the same words. Keys are snake_case; the camelCase
// spellings older pools files used are still read. The shape is checked here,
// each place named by file, line and column; what the values mean (prefixes,
// overlaps, block lengths, ranges) is the IPAM's own check (parseConfig),
// whose error is placed at the field it names.
import { isSeq, type Node, type YAMLMap } from 'yaml';
import { InvalidSpecError, VispError } from '../errors.js';
import { parseConfig } from '../ipam/config.js';
import { parsePrefix } from '../ipam/prefix.js';
import { IDENTIFIER_KINDS, type IdentifierKind, type IdRangeSpec, type IpamConfigSpec, type PoolSpec } from '../ipam/types.js';
import { ConfigFile } from './reader.js';

/** The keys a pools file has at its top (and the controller config among its own). */
export const IPAM_KEYS = ['pools', 'identifiers', 'cooldown_ms', 'allocation_ttl_ms'] as const;
export const POOL_KEYS = ['name', 'prefix', 'class', 'default_block_length', 'largest_block_length'] as const;
export const RANGE_KEYS = ['first', 'last'] as const;

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
/** Both spellings read as snake_case. */
const alias = snake;

export const ID_KINDS = IDENTIFIER_KINDS.map(snake);
const POOL_EXAMPLE = 'e.g. "{ name: site-v4, prefix: 192.0.2.0/24, class: local }"';

/** A pools file: the mapping above, or a bare list of pools. */
export function readPoolsFile(file: string): IpamConfigSpec {
  const cf: ConfigFile = ConfigFile.read(file);
  const root = cf.root;
  if (root === null || root === undefined) cf.fail(undefined, '', 'the file is empty; expected "pools:" and a list of pools');
  if (isSeq(root)) return poolsSpec(cf, root, undefined, (path) => cf.locate(root, path.replace(/^pools/, '')));
  const m = cf.mapping(root, '', 'pools: [...], and optionally identifiers, cooldown_ms, allocation_ttl_ms');
  cf.checkKeys(m, '', IPAM_KEYS, alias);
  const spec = ipamSettings(cf, m);
  if (!spec) cf.fail(m, 'pools', 'is required');
  return spec;
}

/**
 * The IPAM settings among the keys of mapping `m` (a pools file's top, or the
 * controller config's); undefined when it has none of them. The caller has
 * checked `m`'s keys.
 */
export function ipamSettings(cf: ConfigFile, m: YAMLMap<unknown, unknown>): IpamConfigSpec | undefined {
  const given = IPAM_KEYS.filter((k) => cf.get(m, '', k, alias) !== undefined);
  if (!given.length) return undefined;
  const pools = cf.get(m, '', 'pools', alias);
  if (!pools) cf.fail(cf.keyNode(m, given[0]!, alias), 'pools', `is required with ${given.join(', ')} (they configure the pools)`);
  const extra: { identifiers?: IpamConfigSpec['identifiers']; cooldownMs?: number; allocationTtlMs?: number } = {};
  const ids = cf.get(m, '', 'identifiers', alias);
  if (ids) extra.identifiers = identifiers(cf, ids);
  const cooldown = cf.get(m, '', 'cooldown_ms', alias);
  if (cooldown) extra.cooldownMs = cf.int(cooldown, 'cooldown_ms');
  const ttl = cf.get(m, '', 'allocation_ttl_ms', alias);
  if (ttl) extra.allocationTtlMs = cf.int(ttl, 'allocation_ttl_ms');
  return poolsSpec(cf, pools, extra, (path) => cf.locate(m, path, alias));
}

function poolsSpec(cf: ConfigFile, node: Node, extra: Omit<IpamConfigSpec, 'pools'> | undefined, place: (path: string) => Node | undefined): IpamConfigSpec {
  const seq = cf.sequence(node, 'pools', POOL_EXAMPLE);
  const pools = cf.items(seq).map((n, i) => pool(cf, n, `pools[${i}]`));
  if (!pools.length) cf.fail(node, 'pools', `at least one pool is required (${POOL_EXAMPLE})`);
  const spec: IpamConfigSpec = { pools, ...extra };
  try {
    parseConfig(spec);
  } catch (e) {
    if (!(e instanceof VispError) || e.field === undefined) throw e;
    // The IPAM names fields in camelCase ("pools[1].largestBlockLength"); the file in snake_case.
    const field = snake(e.field);
    const reason = e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
    cf.fail(place(field), field, reason);
  }
  return spec;
}

function pool(cf: ConfigFile, node: Node, path: string): PoolSpec {
  const m = cf.mapping(node, path, POOL_EXAMPLE);
  cf.checkKeys(m, path, POOL_KEYS, alias);
  const need = (k: string): Node => cf.get(m, path, k, alias) ?? cf.fail(m, `${path}.${k}`, 'is required');
  const prefixNode = need('prefix');
  const prefix = cf.str(prefixNode, `${path}.prefix`);
  try {
    parsePrefix(prefix, `${path}.prefix`);
  } catch (e) {
    if (e instanceof InvalidSpecError) cf.fail(prefixNode, `${path}.prefix`, e.message.replace(`${path}.prefix: `, ''));
    throw e;
  }
  const out: { -readonly [K in keyof PoolSpec]: PoolSpec[K] } = {
    name: cf.str(need('name'), `${path}.name`),
    prefix,
    class: cf.str(need('class'), `${path}.class`) as PoolSpec['class'],
  };
  for (const k of ['default_block_length', 'largest_block_length'] as const) {
    const v = cf.get(m, path, k, alias);
    if (v) out[camel(k) as 'defaultBlockLength' | 'largestBlockLength'] = cf.int(v, `${path}.${k}`);
  }
  return out;
}

function identifiers(cf: ConfigFile, node: Node): Partial<Record<IdentifierKind, IdRangeSpec[]>> {
  const m = cf.mapping(node, 'identifiers', 'ranges by kind, e.g. "{ vni: [{ first: 1000, last: 9999 }] }"');
  cf.checkKeys(m, 'identifiers', ID_KINDS, alias);
  const out: Partial<Record<IdentifierKind, IdRangeSpec[]>> = {};
  for (const kind of IDENTIFIER_KINDS) {
    const path = `identifiers.${snake(kind)}`;
    const v = cf.get(m, 'identifiers', snake(kind), alias);
    if (!v) continue;
    out[kind] = cf.items(cf.sequence(v, path, 'e.g. "[{ first: 1000, last: 9999 }]"')).map((r, i) => {
      const rp = `${path}[${i}]`;
      const rm = cf.mapping(r, rp, 'e.g. "{ first: 1000, last: 9999 }"');
      cf.checkKeys(rm, rp, RANGE_KEYS);
      const end = (k: 'first' | 'last'): number => cf.int(cf.get(rm, rp, k) ?? cf.fail(rm, `${rp}.${k}`, 'is required'), `${rp}.${k}`);
      return { first: end('first'), last: end('last') };
    });
  }
  return out;
}
