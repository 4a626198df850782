import { describe, expect, it } from 'vitest';
import { aliasOf, netnsMarkOf, parseAlias, parseNetnsMark } from './ownership.js';

describe('ownership marks', () => {
  it('a link alias round-trips; a namespace mark is not a link alias', () => {
    expect(parseAlias(aliasOf({ slice: 'a-x', link: 'l.1' }))).toEqual({ slice: 'a-x', link: 'l.1' });
    expect(parseAlias(netnsMarkOf({ slice: 'a', group: 7 }))).toBeUndefined();
  });

  it.each([
    ['visp-netns:exp1/42', { slice: 'exp1', group: 42 }],
    ['visp-netns:a-x.y_z/4294967295', { slice: 'a-x.y_z', group: 4294967295 }],
    ['visp-netns:exp1/0', undefined],
    ['visp-netns:exp1/', undefined],
    ['visp-netns:/5', undefined],
    ['visp-netns:exp1/5x', undefined],
    ['visp-netns:exp1', undefined],
    ['visp:exp1/l1', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('namespace mark %j → %j', (alias, want) => {
    expect(parseNetnsMark(alias)).toEqual(want);
    if (want) expect(netnsMarkOf(want)).toBe(alias);
  });
});
