import { describe, expect, it } from 'vitest';
import { endpointNames, ifnameProblem, shortHash } from './names.js';

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
