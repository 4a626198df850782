import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import { readPoolsFile } from './pools.js';

const dir = mkdtempSync(join(tmpdir(), 'visp-pools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** Write `text` to a fresh pools file; returns its path. */
const file = (text: string): string => { const f = join(dir, `p${n++}.yaml`); writeFileSync(f, text); return f; };

describe('pools file', () => {
  const cases: Array<[string, string, IpamConfigSpec]> = [
    ['a bare list is the pools', '- { name: a, prefix: 192.0.2.0/24, class: local }\n',
      { pools: [{ name: 'a', prefix: '192.0.2.0/24', class: 'local' }] }],
    ['every key, snake_case', [
      'pools:',
      '  - { name: pub, prefix: 203.0.113.0/24, class: public, default_block_length: 28, largest_block_length: 26 }',
      '  - { name: v6, prefix: "2001:db8:1000::/36", class: local }',
      'identifiers: { gre_key: [{ first: 1, last: 100 }], vni: [{ first: 1000, last: 1999 }, { first: 5000, last: 5999 }], group_id: [{ first: 4096, last: 8191 }] }',
      'cooldown_ms: 0',
      'allocation_ttl_ms: 300000',
    ].join('\n'), {
      pools: [
        { name: 'pub', prefix: '203.0.113.0/24', class: 'public', defaultBlockLength: 28, largestBlockLength: 26 },
        { name: 'v6', prefix: '2001:db8:1000::/36', class: 'local' },
      ],
      identifiers: { greKey: [{ first: 1, last: 100 }], vni: [{ first: 1000, last: 1999 }, { first: 5000, last: 5999 }], groupId: [{ first: 4096, last: 8191 }] },
      cooldownMs: 0, allocationTtlMs: 300000,
    }],
    ['camelCase, as older pools files had it', 'pools: [{ name: a, prefix: 192.0.2.0/24, class: local, defaultBlockLength: 29 }]\nidentifiers: { greKey: [{ first: 5, last: 9 }] }\ncooldownMs: 1000',
      { pools: [{ name: 'a', prefix: '192.0.2.0/24', class: 'local', defaultBlockLength: 29 }], identifiers: { greKey: [{ first: 5, last: 9 }] }, cooldownMs: 1000 }],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(readPoolsFile(file(text))).toEqual(want));

  const P = '- { name: a, prefix: 192.0.2.0/24, class: local }';
  const errors: Array<[string, string, string]> = [
    ['empty', '', ': the file is empty; expected "pools:" and a list of pools'],
    ['syntax', 'pools: [', ':1:9: '],
    ['a scalar', 'pools', ':1:1: expected a mapping (pools: [...], and optionally identifiers, cooldown_ms, allocation_ttl_ms), got the string "pools"'],
    ['unknown top key', `pools:\n  ${P}\ncooldown: 5`, ':3:1: cooldown: unknown field; expected one of pools, identifiers, cooldown_ms, allocation_ttl_ms'],
    ['both spellings', `pools:\n  ${P}\ncooldown_ms: 5\ncooldownMs: 6`, ':4:1: cooldown_ms: given twice (as "cooldown_ms" and "cooldownMs")'],
    ['no pools', 'cooldown_ms: 5', ':1:1: pools: is required with cooldown_ms (they configure the pools)'],
    ['pools not a list', 'pools: { name: a }', ':1:8: pools: expected a list (e.g. "{ name: site-v4, prefix: 192.0.2.0/24, class: local }"), got a mapping'],
    ['no pool in the list', 'pools: []', ':1:8: pools: at least one pool is required'],
    ['a pool not a mapping', 'pools: [a]', ':1:9: pools[0]: expected a mapping'],
    ['unknown pool key', 'pools:\n  - { name: a, prefix: 192.0.2.0/24, class: local, default_blok_length: 28 }', ':2:52: pools[0].default_blok_length: unknown field (did you mean "default_block_length"?)'],
    ['pool without a prefix', 'pools:\n  - { name: a, class: local }', ':2:5: pools[0].prefix: is required'],
    ['pool without a name', 'pools:\n  - { prefix: 192.0.2.0/24, class: local }', ':2:5: pools[0].name: is required'],
    ['pool without a class', 'pools:\n  - { name: a, prefix: 192.0.2.0/24 }', ':2:5: pools[0].class: is required'],
    ['a prefix that is not one', 'pools:\n  - { name: a, prefix: 192.0.2.0, class: local }', ':2:24: pools[0].prefix: "192.0.2.0" is not a prefix: missing the /length'],
    ['a prefix not a string', 'pools:\n  - { name: a, prefix: 24, class: local }', ':2:24: pools[0].prefix: expected a non-empty string, got number 24'],
    ['bad pool name (the IPAM\'s check, placed)', 'pools:\n  - { name: A_1, prefix: 192.0.2.0/24, class: local }', ':2:13: pools[0].name: "A_1" is not a pool name'],
    ['bad class', 'pools:\n  - { name: a, prefix: 192.0.2.0/24, class: global }', ':2:45: pools[0].class: pool "a": class "global" is not one of public, local, private'],
    ['block length a string', 'pools:\n  - { name: a, prefix: 192.0.2.0/24, class: local, largest_block_length: "/24" }', ':2:74: pools[0].largest_block_length: expected a whole number'],
    ['block length out of range', 'pools:\n  - { name: a, prefix: 192.0.2.0/24, class: local, largest_block_length: 16 }', ':2:74: pools[0].largest_block_length: pool "a": largestBlockLength /16 must be between'],
    ['default wider than largest', 'pools:\n  - { name: a, prefix: 192.0.2.0/24, class: local, largest_block_length: 27, default_block_length: 26 }', ':2:100: pools[0].default_block_length: pool "a": defaultBlockLength /26 must be between'],
    ['overlapping pools', `pools:\n  ${P}\n  - { name: b, prefix: 192.0.2.128/25, class: local }`, ':3:24: pools[1].prefix: pool "b": 192.0.2.128/25 overlaps pool "a" 192.0.2.0/24'],
    ['a name twice', `pools:\n  ${P}\n  - { name: a, prefix: 198.51.100.0/24, class: local }`, ':3:13: pools[1].name: pool "a": defined twice'],
    ['identifiers not a mapping', `pools:\n  ${P}\nidentifiers: [1]`, ':3:14: identifiers: expected a mapping'],
    ['unknown identifier kind', `pools:\n  ${P}\nidentifiers: { vnis: [] }`, ':3:16: identifiers.vnis: unknown field (did you mean "vni"?); expected one of gre_key, vni, group_id'],
    ['ranges not a list', `pools:\n  ${P}\nidentifiers: { vni: { first: 1, last: 2 } }`, ':3:21: identifiers.vni: expected a list'],
    ['a range not a mapping', `pools:\n  ${P}\nidentifiers: { vni: [5] }`, ':3:22: identifiers.vni[0]: expected a mapping'],
    ['a range key unknown', `pools:\n  ${P}\nidentifiers: { vni: [{ first: 1, end: 2 }] }`, ':3:34: identifiers.vni[0].end: unknown field; expected one of first, last'],
    ['a range without last', `pools:\n  ${P}\nidentifiers: { vni: [{ first: 1 }] }`, ':3:22: identifiers.vni[0].last: is required'],
    ['a range end not a number', `pools:\n  ${P}\nidentifiers: { vni: [{ first: one, last: 2 }] }`, ':3:31: identifiers.vni[0].first: expected a whole number'],
    ['a range beyond 24 bits (the IPAM\'s check)', `pools:\n  ${P}\nidentifiers: { vni: [{ first: 1, last: 99999999 }] }`, ':3:22: identifiers.vni[0]: {"first":1,"last":99999999} is not a range within 1..16777215'],
    ['overlapping ranges', `pools:\n  ${P}\nidentifiers:\n  vni: [{ first: 1, last: 10 }, { first: 5, last: 20 }]`, ':4:8: identifiers.vni: ranges 1-10 and 5-20 overlap'],
    ['an empty range list (the IPAM\'s check)', `pools:\n  ${P}\nidentifiers: { vni: [] }`, ':3:21: identifiers.vni: expected a non-empty list'],
    ['a timer not a number', `pools:\n  ${P}\ncooldown_ms: 10m`, ':3:14: cooldown_ms: expected a whole number, got the string "10m"'],
    ['a timer out of range (the IPAM\'s check)', `pools:\n  ${P}\nallocation_ttl_ms: -5`, ':3:20: allocation_ttl_ms: -5 must be whole milliseconds'],
  ];
  for (const [name, text, want] of errors) {
    it(`refused: ${name}`, () => {
      const f = file(text);
      let err: unknown;
      try { readPoolsFile(f); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidSpecError);
      const msg = (err as Error).message;
      expect(msg.startsWith(`${f}${want}`), `${msg}\n  should start with\n${f}${want}`).toBe(true);
    });
  }
});
