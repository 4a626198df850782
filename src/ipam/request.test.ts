import { describe, expect, it } from 'vitest';
import { expectInvalidSpec } from '../../test/ipam/support.js';
import { parseSliceSpec } from './request.js';
import type { LinkSpec, SliceSpec } from './types.js';

const p2p = (name: string, extra: Partial<LinkSpec> = {}): LinkSpec => ({
  name,
  interfaces: [{ name: `${name}-a` }, { name: `${name}-b` }],
  ipv4: { class: 'private' },
  ...extra,
});

describe('parseSliceSpec', () => {
  it('normalizes links and implies one block per class and family', () => {
    const r = parseSliceSpec({
      slice: 'urn:publicid:IDN+example.net+slice+s1',
      links: [
        p2p('a', { ipv6: { class: 'local' }, identifier: 'greKey' }),
        { name: 'lan', interfaces: [{ name: 'x' }, { name: 'y' }, { name: 'z', ipv4: '192.0.2.3' }], ipv4: { class: 'private' }, identifier: 'vni' },
      ],
      blocks: [{ class: 'public', family: 'ipv4', prefixLength: 28 }],
    });
    expect(r.groupId).toBe(true);
    expect(r.links.map((l) => [l.name, l.shape, l.subnets.ipv4?.length, l.subnets.ipv6?.length, l.choices])).toEqual([
      ['a', 'p2p', 31, 127, [{ identifier: 'greKey' }]],
      ['lan', 'lan', 29, undefined, [{ identifier: 'vni' }]],
    ]);
    expect(r.links[1]!.interfaces[2]!.explicit).toEqual({ ipv4: 3221225987n });
    expect(r.blocks.map((b) => [b.class, b.family, b.prefixLength, b.field])).toEqual([
      ['public', 'ipv4', 28, 'blocks[0]'],
      ['private', 'ipv4', undefined, 'links[0].ipv4'],
      ['local', 'ipv6', undefined, 'links[0].ipv6'],
    ]);
  });

  it.each<[string, SliceSpec, string, string]>([
    ['empty slice name', { slice: '', links: [] }, 'slice: "" must be 1..256 printable characters', 'slice'],
    ['control character in slice name', { slice: 'a\nb', links: [] }, 'printable', 'slice'],
    ['duplicate link', { slice: 's', links: [p2p('a'), p2p('a')] }, 'links[1].name: link "a" is already links[0]', 'links[1].name'],
    ['p2p with three interfaces', { slice: 's', links: [{ ...p2p('a'), shape: 'p2p', interfaces: [{ name: '1' }, { name: '2' }, { name: '3' }] }] }, 'a point-to-point link has exactly 2 interfaces, not 3', 'links[0].interfaces'],
    ['no interfaces', { slice: 's', links: [{ ...p2p('a'), interfaces: [] }] }, 'expected 1..65536 interfaces', 'links[0].interfaces'],
    ['duplicate interface', { slice: 's', links: [{ ...p2p('a'), interfaces: [{ name: 'x' }, { name: 'x' }] }] }, 'interface "x" appears twice on link "a"', 'links[0].interfaces[1].name'],
    ['bad identifier', { slice: 's', links: [p2p('a', { identifier: 'vlan' as never })] }, '"vlan" is not greKey or vni', 'links[0].identifier'],
    ['bad class', { slice: 's', links: [p2p('a', { ipv4: { class: 'global' as never } })] }, 'expected one of public, local, private', 'links[0].ipv4.class'],
    ['malformed explicit address', { slice: 's', links: [{ ...p2p('a'), interfaces: [{ name: 'x', ipv4: '192.0.2.300' }, { name: 'y' }] }] }, 'is not an IP address', 'links[0].interfaces[0].ipv4'],
    ['address of the wrong family', { slice: 's', links: [{ ...p2p('a'), interfaces: [{ name: 'x', ipv4: '2001:db8::1' }, { name: 'y' }] }] }, '2001:db8::1 is an ipv6 address', 'links[0].interfaces[0].ipv4'],
    ['address without a subnet', { slice: 's', links: [{ ...p2p('a'), interfaces: [{ name: 'x', ipv6: '2001:db8::1' }, { name: 'y' }] }] }, 'link "a" has no ipv6 subnet', 'links[0].interfaces[0].ipv6'],
    [
      'the same explicit address twice',
      { slice: 's', links: [{ ...p2p('a'), interfaces: [{ name: 'x', ipv4: '192.0.2.1' }, { name: 'y' }] }, { ...p2p('b'), interfaces: [{ name: 'x', ipv4: '192.0.2.1' }, { name: 'y' }] }] },
      'links[1].interfaces[0].ipv4: 192.0.2.1 is already requested by links[0].interfaces[0].ipv4',
      'links[1].interfaces[0].ipv4',
    ],
    ['two blocks of one class and family', { slice: 's', links: [], blocks: [{ class: 'public', family: 'ipv4' }, { class: 'public', family: 'ipv4' }] }, 'a second public ipv4 block', 'blocks[1]'],
    ['block prefix of the wrong family', { slice: 's', links: [], blocks: [{ class: 'public', family: 'ipv6', prefix: '192.0.2.0/28' }] }, '192.0.2.0/28 is not ipv6', 'blocks[0].prefix'],
    ['block prefix and length disagree', { slice: 's', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '192.0.2.0/28', prefixLength: 27 }] }, 'disagree', 'blocks[0].prefixLength'],
    ['block length /32', { slice: 's', links: [], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 32 }] }, '/32 is not a block length for ipv4', 'blocks[0].prefixLength'],
    ['groupId not boolean', { slice: 's', links: [], groupId: 'yes' as never }, 'groupId: expected true or false', 'groupId'],
  ])('rejects %s', (_what, spec, message, field) => {
    expectInvalidSpec(() => parseSliceSpec(spec), message, field);
  });
});
