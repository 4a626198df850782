import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { endpointNames, experimentNetns, ID, ifnameProblem, parseExperimentNetns, shortHash } from './names.js';

describe('endpoint names', () => {
  it('are deterministic, distinct per role and fit IFNAMSIZ', () => {
    const a = endpointNames('slice-with-a-very-long-name-indeed', 'link-number-forty-two');
    const b = endpointNames('slice-with-a-very-long-name-indeed', 'link-number-forty-two');
    expect(a.bridge).toBe(b.bridge);
    expect(a.tunnel('198.18.0.2')).toBe(b.tunnel('198.18.0.2'));
    const all = [a.bridge, a.vethHost, a.tunnel(), a.tunnel('198.18.0.2'), a.tunnel('198.18.0.3')];
    expect(new Set(all).size).toBe(all.length);
    for (const n of all) expect(ifnameProblem(n)).toBeUndefined();
  });

  it('differ between links and slices', () => {
    expect(endpointNames('s1', 'l1').bridge).not.toBe(endpointNames('s1', 'l2').bridge);
    expect(endpointNames('s1', 'l1').bridge).not.toBe(endpointNames('s2', 'l1').bridge);
    // "s1/l1-x" vs "s1-l1/x": the separator keeps ids from running together.
    expect(shortHash('a/bc')).not.toBe(shortHash('ab/c'));
  });

  it('do not collide over 20,000 links', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(endpointNames('slice', `link${i}`).bridge);
    expect(seen.size).toBe(20_000);
  });

  it.each([
    ['eth1', undefined],
    ['a-15-byte-name!', undefined],
    ['', /empty/],
    ['sixteen-chars-xx', /at most 15/],
    ['eth 1', /whitespace/],
    ['eth/1', /"\/"/],
    ['..', /reserved/],
    ['ethé', /printable ASCII/],
  ])('ifname %j', (name, want) => {
    const p = ifnameProblem(name);
    if (want === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(want);
  });
});

describe('experiment namespace names', () => {
  // Ids as requests allow them, biased towards the separators ids may contain.
  const id = fc.tuple(
    fc.constantFrom(...'abx019AZ'),
    fc.array(fc.constantFrom(...'-._-ax1r-'), { maxLength: 62 }),
  ).map(([first, rest]) => first + rest.join(''));

  it.each([
    // The collision that destroyed a namespace: one name for two slices under "visp-<slice>-<router>".
    [['a', 'x-r1'], ['a-x', 'r1']],
    [['a.b', 'c'], ['a', 'b.c']],
    [['a_', 'b'], ['a', 'b_']],
    [['s-', 'r'], ['s', 'r-']],
    [['s--r', 'x'], ['s', 'r--x']],
  ])('%j and %j get different names', ([s1, r1], [s2, r2]) => {
    expect(experimentNetns(s1!, r1!)).not.toBe(experimentNetns(s2!, r2!));
  });

  it('read as what they are', () => {
    expect(experimentNetns('exp1', 'r1')).toBe('visp-exp1:r1');
    expect(experimentNetns('a', 'x-r1')).toBe('visp-a:x-r1');
    expect(experimentNetns('a-x', 'r1')).toBe('visp-a-x:r1');
  });

  it('decode back to their ids, so no two (slice, router) pairs share one (property)', () => {
    fc.assert(fc.property(id, id, (slice, router) => {
      const name = experimentNetns(slice, router);
      expect(parseExperimentNetns(name)).toEqual({ slice, router });
    }), { numRuns: 5000 });
  });

  it('never collide when a "-", "." or "_" moves between the ids (property; with "-" the old "visp-<slice>-<router>" failed every case)', () => {
    fc.assert(fc.property(id, id, id, fc.constantFrom('-', '.', '_'), (a, b, c, sep) => {
      fc.pre(`${a}${sep}${b}`.length <= 63 && `${b}${sep}${c}`.length <= 63);
      expect(experimentNetns(`${a}${sep}${b}`, c)).not.toBe(experimentNetns(a, `${b}${sep}${c}`));
    }), { numRuns: 2000 });
  });

  it('are never a name a topology may give (ids have no ":"), and fit /run/netns (≤ 255 bytes)', () => {
    fc.assert(fc.property(id, id, (slice, router) => {
      const name = experimentNetns(slice, router);
      expect(ID.test(name)).toBe(false);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    }));
    expect(experimentNetns('s'.repeat(63), 'r'.repeat(63))).toHaveLength(132);
  });

  it.each([
    ['', 'r1', /^slice: "" must be/],
    ['a:b', 'r1', /^slice: "a:b"/],
    ['a', '-r', /^router: "-r"/],
    ['a', 'r'.repeat(64), /^router: /],
  ])('refuse ids outside the rule: %j/%j', (s, r, want) => {
    expect(() => experimentNetns(s, r)).toThrow(want);
  });

  it.each(['visp-a-r1', 'visp-:r1', 'visp-a:', 'vl-a:r1', 'visp-a:b:c', 'eth0'])('%j is not a derived name', (name) => {
    expect(parseExperimentNetns(name)).toBeUndefined();
  });
});
