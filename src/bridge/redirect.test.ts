// The decoder of a join's filters, on the options we encode and on spoiled
// variants of them, byte by byte as the kernel reports them back (the
// kernel test reads real ones: test/kernel/redirect-join.test.ts).
import { describe, expect, it } from 'vitest';
import { decodeRule, joinedRules, joinFilters, joinProblems, PRIO } from './redirect.js';
import type { Filter } from '../netlink/tc-filter.js';

const asRead = (f: ReturnType<typeof joinFilters>[number]): Filter => ({ index: f.index, parent: f.parent, handle: 0x80000800, prio: f.prio, protocol: f.protocol, kind: f.kind, options: Buffer.from(f.options) });

/** Offset of a needle in a buffer (to spoil one field of what we encoded). */
const at = (b: Buffer, needle: Buffer): number => { const i = b.indexOf(needle); if (i < 0) throw new Error('not found'); return i; };

describe('reading a join back', () => {
  it('what we encode reads back as the join', () => {
    expect(joinFilters(11, 20).map(asRead).map(decodeRule)).toEqual(joinedRules(20));
    expect(joinProblems(joinFilters(11, 20).map(asRead).map(decodeRule).filter((r) => !!r), 20)).toEqual([]);
  });

  it('a redirect that does not steal the frame (verdict pass: a copy also goes up the node\'s stack) is not the join', () => {
    const f = asRead(joinFilters(11, 20)[1]!);
    // struct tc_mirred: …, action (TC_ACT_STOLEN = 4) at 8, eaction (1) at 20, ifindex (20) at 24.
    const parms = Buffer.alloc(28); parms.writeInt32LE(4, 8); parms.writeInt32LE(1, 20); parms.writeUInt32LE(20, 24);
    const i = at(f.options!, parms);
    f.options!.writeInt32LE(3, i + 8);   // TC_ACT_PIPE
    const rules = [decodeRule(asRead(joinFilters(11, 20)[0]!))!, decodeRule(f)!];
    expect(rules[1]!.redirectTo).toBeUndefined();
    expect(joinProblems(rules, 20)).toEqual(['redirect missing or changed']);
  });

  it('a selector that does not match every frame is not ours', () => {
    const f = asRead(joinFilters(11, 20)[1]!);
    // The first key's mask, right after the 16-byte selector header (itself after a 4-byte attribute header).
    const sel = at(f.options!, Buffer.from([1, 0, 1, 0]));
    f.options!.writeUInt32LE(0xffff, sel + 16);
    expect(decodeRule(f)).toMatchObject({ prio: PRIO.redirect, final: false });
    expect(joinProblems([decodeRule(asRead(joinFilters(11, 20)[0]!))!, decodeRule(f)!], 20)).toEqual(['redirect missing or changed']);
  });
});
