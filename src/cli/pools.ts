// `visp controller --pools FILE.yaml`: the IPAM configuration in YAML, with
// the IpamConfigSpec's fields in snake_case or camelCase:
//   pools:
//     - { name: site-v4, prefix: 192.0.2.0/24, class: local, default_block_length: 28 }
//   identifiers: { vni: [{ first: 1000, last: 9999 }] }
//   cooldown_ms: 600000
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { InvalidSpecError, VispError } from '../errors.js';
import { parseConfig } from '../ipam/config.js';
import type { IpamConfigSpec } from '../ipam/types.js';

const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelKeys(x)]));
  return v;
}

export function readPools(file: string): IpamConfigSpec {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'), { prettyErrors: false });
  } catch (e) {
    throw new InvalidSpecError(`${file}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  // A bare list is the pools.
  const spec = camelKeys(Array.isArray(doc) ? { pools: doc } : doc) as IpamConfigSpec;
  try {
    parseConfig(spec);
  } catch (e) {
    if (e instanceof VispError) throw new InvalidSpecError(`${file}: ${e.message}`, { ...(e.field ? { field: e.field } : {}), cause: e });
    throw e;
  }
  return spec;
}
