// Allocation rules through the public API, one table per rule.
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, expectSane, p2p, rig, type Rig } from '../../test/ipam/support.js';
import { parsePrefix, containsPrefix } from './prefix.js';
import type { LinkSpec, SliceAllocation } from './types.js';

let r: Rig | undefined;
afterEach(async () => {
  if (r) await expectSane(r.store);
  r = undefined;
});
const setup = async (...args: Parameters<typeof rig>): Promise<Rig> => (r = await rig(...args));
const inside = (outer: string, inner: string): boolean => containsPrefix(parsePrefix(outer, 'o'), parsePrefix(inner, 'i'));
const blockOf = (a: SliceAllocation, cls: string, family: string): string => a.blocks.find((b) => b.class === cls && b.family === family)!.prefix;

describe('point-to-point subnets and addresses', () => {
  it.each([
    ['IPv4 default /31 (RFC 3021): both addresses usable', 'ipv4', undefined, '192.0.2.0/31', ['192.0.2.0/31', '192.0.2.1/31']],
    ['IPv4 /30 on request: network and broadcast skipped', 'ipv4', 30, '192.0.2.0/30', ['192.0.2.1/30', '192.0.2.2/30']],
    ['IPv6 default /127 (RFC 6164): both addresses usable', 'ipv6', undefined, '2001:db8::/127', ['2001:db8::/127', '2001:db8::1/127']],
    ['IPv6 /64 on request: subnet-router anycast skipped', 'ipv6', 64, '2001:db8::/64', ['2001:db8::1/64', '2001:db8::2/64']],
  ] as const)('%s', async (_what, family, prefixLength, subnet, addrs) => {
    const { ipam } = await setup();
    const cls = family === 'ipv4' ? 'private' : 'local';
    const a = await ipam.allocate({ slice: 's', links: [p2p('l', { [family]: { class: cls, ...(prefixLength ? { prefixLength } : {}) } })] });
    expect(a.links[0]![family]).toEqual({ class: cls, prefix: subnet });
    expect(a.links[0]!.interfaces.map((i) => i[family])).toEqual(addrs);
  });

  it('a dual-stack link gets one subnet per family, each from its own block', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: 'public' }, ipv6: { class: 'local' } })] });
    expect(a.blocks.map((b) => [b.class, b.family, b.pool])).toEqual([
      ['public', 'ipv4', 'pub-v4'],
      ['local', 'ipv6', 'loc-v6'],
    ]);
    expect(a.links[0]!.interfaces).toEqual([
      { name: 'l:a', ipv4: '198.51.100.0/31', ipv6: '2001:db8::/127' },
      { name: 'l:b', ipv4: '198.51.100.1/31', ipv6: '2001:db8::1/127' },
    ]);
  });
});

describe('LAN subnets', () => {
  const lan = (n: number, extra: Partial<LinkSpec> = {}): LinkSpec => ({
    name: 'lan',
    interfaces: Array.from({ length: n }, (_, i) => ({ name: `m${i}` })),
    ipv4: { class: 'private' },
    ...extra,
  });
  it.each([
    [3, {}, '192.0.2.0/29', '192.0.2.1/29'],
    [6, {}, '192.0.2.0/28', '192.0.2.1/28'],
    [6, { ipv4: { class: 'private' as const, headroom: 0 } }, '192.0.2.0/29', '192.0.2.1/29'],
    [20, {}, '192.0.2.0/27', '192.0.2.1/27'],
    [3, { ipv4: undefined, ipv6: { class: 'local' as const } }, '2001:db8::/64', '2001:db8::1/64'],
  ])('%i members %j → %s', async (n, extra, subnet, first) => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [lan(n, extra)] });
    const link = a.links[0]!;
    const family = link.ipv4 ? 'ipv4' : 'ipv6';
    expect(link[family]!.prefix).toBe(subnet);
    expect(link.interfaces[0]![family]).toBe(first);
    expect(new Set(link.interfaces.map((i) => i[family])).size).toBe(n);
  });
});

describe('slice blocks', () => {
  it('a 40-link topology gets a block that holds its subnets with room to grow', async () => {
    const { ipam } = await setup();
    const links = Array.from({ length: 40 }, (_, i) => p2p(`l${i}`, { ipv4: { class: 'private' } }));
    const a = await ipam.allocate({ slice: 's', links });
    const block = blockOf(a, 'private', 'ipv4');
    expect(block).toBe('192.0.2.0/25'); // 80 addresses needed, 128 given
    for (const l of a.links) expect(inside(block, l.ipv4!.prefix)).toBe(true);
  });

  it('small slices get the pool default; blocks of different slices never overlap', async () => {
    const { ipam } = await setup();
    const got: string[] = [];
    for (let i = 0; i < 6; i++) got.push(blockOf(await ipam.allocate({ slice: `s${i}`, links: [p2p('l', { ipv4: { class: 'public' } })] }), 'public', 'ipv4'));
    expect(got).toEqual(['198.51.100.0/28', '198.51.100.16/28', '198.51.100.32/28', '198.51.100.48/28', '198.51.100.64/28', '198.51.100.80/28']);
  });

  it('a block with no links is the default size', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [], blocks: [{ class: 'public', family: 'ipv6' }] });
    expect(a.blocks).toEqual([{ class: 'public', family: 'ipv6', pool: 'pub-v6', prefix: '2001:db8:100::/56' }]);
  });

  it.each([
    ['an explicit size', { class: 'public' as const, family: 'ipv4' as const, prefixLength: 26 }, '198.51.100.0/26'],
    ['an exact prefix', { class: 'public' as const, family: 'ipv4' as const, prefix: '198.51.100.128/27' }, '198.51.100.128/27'],
    ['a named pool', { class: 'local' as const, family: 'ipv4' as const, pool: 'loc-v4' }, '203.0.113.0/28'],
  ])('honours %s', async (_what, block, want) => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: block.class } })], blocks: [block] });
    expect(blockOf(a, block.class, 'ipv4')).toBe(want);
  });

  it('the last block in a pool is handed out, then the pool is exhausted with a message naming it', async () => {
    const { ipam } = await setup();
    const one = (s: string) => ipam.allocate({ slice: s, links: [p2p('l', { ipv4: { class: 'public' } })], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 28 }] });
    for (let i = 0; i < 15; i++) await one(`s${i}`);
    expect(blockOf(await one('last'), 'public', 'ipv4')).toBe('198.51.100.240/28');
    const err = await expectError(one('too-many'), 'VISP_POOL_EXHAUSTED', 'pool "pub-v4": exhausted: asked for a /28 block, nothing is free');
    expect(err.field).toBe('blocks[0]');
  });

  it('exhaustion names the largest free block', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 'a', links: [], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 25 }] });
    await ipam.allocate({ slice: 'b', links: [], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 26 }] });
    await expectError(
      ipam.allocate({ slice: 'c', links: [], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 25 }] }),
      'VISP_POOL_EXHAUSTED',
      'pool "pub-v4": exhausted: asked for a /25 block, largest free is /26',
    );
  });

  it('a nearly full pool still serves a request that fits exactly (smaller than the default)', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 'big', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.0/25' }] });
    await ipam.allocate({ slice: 'mid', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.128/26' }] });
    await ipam.allocate({ slice: 'm2', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.192/27' }] });
    await ipam.allocate({ slice: 'm3', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.224/28' }] });
    await ipam.allocate({ slice: 'm4', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.240/29' }] });
    // Only 198.51.100.248/29 is left; the default /28 does not fit, the /29 the links need does.
    const a = await ipam.allocate({ slice: 's', links: [p2p('a', { ipv4: { class: 'public' } }), p2p('b', { ipv4: { class: 'public' } })] });
    expect(blockOf(a, 'public', 'ipv4')).toBe('198.51.100.248/29');
  });

  it('falls over to the next pool of the same class', async () => {
    const pools = [
      { name: 'small', prefix: '192.0.2.0/28', class: 'public' as const },
      { name: 'big', prefix: '198.51.100.0/24', class: 'public' as const },
    ];
    const { ipam } = await setup({ pools });
    const a = await ipam.allocate({ slice: 'a', links: [p2p('l', { ipv4: { class: 'public' } })] });
    const b = await ipam.allocate({ slice: 'b', links: [p2p('l', { ipv4: { class: 'public' } })] });
    expect([a.blocks[0]!.pool, b.blocks[0]!.pool]).toEqual(['small', 'big']);
  });

  it.each([
    [
      'larger than the pool allows',
      { links: Array.from({ length: 200 }, (_, i) => p2p(`l${i}`, { ipv4: { class: 'private' } })) },
      'VISP_INVALID_SPEC',
      'links[0].ipv4: the private ipv4 block needs at least a /23, larger than any pool allows: pool "priv-v4" (192.0.2.0/24) allows at most a /24',
    ],
    [
      'an explicit size larger than the limit',
      { links: [], blocks: [{ class: 'public' as const, family: 'ipv4' as const, prefixLength: 23 }] },
      'VISP_INVALID_SPEC',
      'blocks[0].prefixLength: the public ipv4 block needs a /23',
    ],
    [
      'an explicit block too small for the links',
      { links: [p2p('a', { ipv4: { class: 'public' } }), p2p('b', { ipv4: { class: 'public' } }), p2p('c', { ipv4: { class: 'public' } })], blocks: [{ class: 'public' as const, family: 'ipv4' as const, prefix: '198.51.100.0/30' }] },
      'VISP_INVALID_SPEC',
      'blocks[0].prefix: 198.51.100.0/30 is too small: the slice\'s public ipv4 subnets need a /29',
    ],
    [
      'an explicit block outside every pool of its class',
      { links: [], blocks: [{ class: 'public' as const, family: 'ipv4' as const, prefix: '192.0.2.0/28' }] },
      'VISP_INVALID_SPEC',
      'blocks[0].prefix: 192.0.2.0/28 is not inside any public ipv4 pool',
    ],
    ['an unknown pool', { links: [], blocks: [{ class: 'public' as const, family: 'ipv4' as const, pool: 'nope' }] }, 'VISP_INVALID_SPEC', 'blocks[0].pool: no pool named "nope" is configured'],
    ['a pool of another class', { links: [], blocks: [{ class: 'public' as const, family: 'ipv4' as const, pool: 'loc-v4' }] }, 'VISP_INVALID_SPEC', 'pool "loc-v4" is not a public ipv4 pool'],
    ['a class with no pool', { links: [p2p('l', { ipv6: { class: 'private' } })] }, 'VISP_INVALID_SPEC', 'links[0].ipv6: cannot allocate a private ipv6 block: no private ipv6 pool is configured'],
  ])('refuses %s', async (_what, spec, code, message) => {
    const { ipam, store } = await setup();
    const before = (await store.read([])).revision;
    await expectError(ipam.allocate({ slice: 's', ...spec }), code, message);
    expect((await store.read([])).revision).toBe(before);
  });

  it('refuses an exact block that another slice holds, never naming it (it may be another tenant\'s)', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 'owner', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.0/26' }] });
    await expectError(
      ipam.allocate({ slice: 's', links: [], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.32/28' }] }),
      'VISP_ALREADY_EXISTS',
      'blocks[0].prefix: 198.51.100.32/28 overlaps 198.51.100.0/26 in pool "pub-v4" (198.51.100.0/24), which another slice holds',
    );
  });
});

describe('explicit addresses', () => {
  const pinned = (addrs: [string | undefined, string | undefined], extra: Partial<LinkSpec> = {}): LinkSpec => ({
    name: 'l',
    interfaces: [{ name: 'a', ...(addrs[0] ? { ipv4: addrs[0] } : {}) }, { name: 'b', ...(addrs[1] ? { ipv4: addrs[1] } : {}) }],
    ipv4: { class: 'public' },
    ...extra,
  });

  it.each([
    ['one pinned, the peer auto', pinned(['198.51.100.9', undefined]), '198.51.100.0/28', ['198.51.100.9/31', '198.51.100.8/31']],
    ['both pinned', pinned(['198.51.100.201', '198.51.100.200']), '198.51.100.192/28', ['198.51.100.201/31', '198.51.100.200/31']],
    ['pinned on a /30', pinned(['198.51.100.66', undefined], { ipv4: { class: 'public', prefixLength: 30 } }), '198.51.100.64/28', ['198.51.100.66/30', '198.51.100.65/30']],
  ])('%s', async (_what, link, block, addrs) => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [link] });
    expect(blockOf(a, 'public', 'ipv4')).toBe(block);
    expect(a.links[0]!.interfaces.map((i) => i.ipv4)).toEqual(addrs);
  });

  it('auto subnets are placed around pinned ones', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [p2p('auto', { ipv4: { class: 'public' } }), pinned(['198.51.100.0', undefined])] });
    expect(a.links.map((l) => l.ipv4!.prefix)).toEqual(['198.51.100.2/31', '198.51.100.0/31']);
  });

  it.each([
    ['the network address of a /30', pinned(['198.51.100.64', undefined], { ipv4: { class: 'public', prefixLength: 30 } }), 'VISP_INVALID_SPEC', 'links[0].interfaces[0].ipv4: 198.51.100.64 is the network address of 198.51.100.64/30'],
    ['the broadcast address of a /30', pinned(['198.51.100.67', undefined], { ipv4: { class: 'public', prefixLength: 30 } }), 'VISP_INVALID_SPEC', '198.51.100.67 is the broadcast address of 198.51.100.64/30'],
    [
      'the broadcast address of a LAN',
      { name: 'lan', interfaces: [{ name: 'a', ipv4: '198.51.100.7' }, { name: 'b' }, { name: 'c' }], ipv4: { class: 'public' as const } },
      'VISP_INVALID_SPEC',
      '198.51.100.7 is the broadcast address of 198.51.100.0/29',
    ],
    [
      'the subnet-router anycast address of a /64',
      { name: 'l', interfaces: [{ name: 'a', ipv6: '2001:db8:100:5::' }, { name: 'b' }], ipv6: { class: 'public' as const, prefixLength: 64 } },
      'VISP_INVALID_SPEC',
      '2001:db8:100:5:: is the subnet-router anycast address (RFC 4291) of 2001:db8:100:5::/64',
    ],
    ['outside every pool of the class', pinned(['192.0.2.1', undefined]), 'VISP_INVALID_SPEC', 'explicit address 192.0.2.1 is not inside any public ipv4 pool'],
    ['two addresses of one link in different /31s', pinned(['198.51.100.1', '198.51.100.2']), 'VISP_INVALID_SPEC', 'explicit addresses 198.51.100.1 and 198.51.100.2 of link "l" are not in one /31'],
  ])('refuses %s', async (_what, link, code, message) => {
    const { ipam } = await setup();
    await expectError(ipam.allocate({ slice: 's', links: [link] }), code, message);
  });

  it('refuses addresses that span more than the largest block', async () => {
    const { ipam } = await setup({ pools: [{ name: 'pub', prefix: '198.51.100.0/24', class: 'public', largestBlockLength: 26 }] });
    await expectError(
      ipam.allocate({ slice: 's', links: [pinned(['198.51.100.1', undefined]), { ...pinned(['198.51.100.200', undefined]), name: 'm' }] }),
      'VISP_INVALID_SPEC',
      'links[0].ipv4: explicit addresses 198.51.100.1 and 198.51.100.200 do not fit in one block of pool "pub" (198.51.100.0/24): they span a /24, the largest block is a /26',
    );
  });

  it('refuses addresses that do not fit the explicitly asked block size', async () => {
    const { ipam } = await setup();
    await expectError(
      ipam.allocate({ slice: 's', links: [pinned(['198.51.100.1', undefined]), { ...pinned(['198.51.100.17', undefined]), name: 'm' }], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 28 }] }),
      'VISP_INVALID_SPEC',
      'blocks[0].prefixLength: explicit addresses 198.51.100.1 and 198.51.100.17 do not fit in one /28',
    );
  });

  it('widens the block to hold addresses that span more than the default', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [pinned(['198.51.100.1', undefined]), { ...pinned(['198.51.100.17', undefined]), name: 'm' }] });
    expect(blockOf(a, 'public', 'ipv4')).toBe('198.51.100.0/27');
  });

  it('refuses an address outside an explicit block', async () => {
    const { ipam } = await setup();
    await expectError(
      ipam.allocate({ slice: 's', links: [pinned(['198.51.100.40', undefined])], blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.0/28' }] }),
      'VISP_INVALID_SPEC',
      'blocks[0].prefix: explicit address 198.51.100.40 is outside the slice\'s block 198.51.100.0/28',
    );
  });

  it('refuses addresses of two links that imply overlapping subnets', async () => {
    const { ipam } = await setup();
    await expectError(
      ipam.allocate({ slice: 's', links: [pinned(['198.51.100.1', undefined]), { ...pinned(['198.51.100.2', undefined], { ipv4: { class: 'public', prefixLength: 30 } }), name: 'm' }] }),
      'VISP_INVALID_SPEC',
      'links[1].ipv4: subnet 198.51.100.0/30 for link "m" (from its explicit addresses) overlaps link "l"\'s 198.51.100.0/31',
    );
  });

  it('refuses an address another slice holds (ALREADY_EXISTS), never naming the holder', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 'owner', links: [pinned(['198.51.100.9', undefined])] });
    const e = await ipam.allocate({ slice: 's', links: [pinned(['198.51.100.3', undefined])] }).then(() => undefined, (x: Error) => x);
    expect(e).toMatchObject({ code: 'VISP_ALREADY_EXISTS', message: expect.stringContaining('which another slice holds') });
    expect(e!.message).not.toContain('owner');
  });
});

describe('identifiers', () => {
  it('gives every link its own GRE key or VNI and every slice its own group id, unique across slices', async () => {
    const { ipam } = await setup();
    const links = [p2p('g1', { identifier: 'greKey' }), p2p('g2', { identifier: 'greKey' }), p2p('v1', { identifier: 'vni' }), p2p('none')];
    const a = await ipam.allocate({ slice: 'a', links });
    const b = await ipam.allocate({ slice: 'b', links });
    expect(a.links.map((l) => [l.greKey, l.vni])).toEqual([[1, undefined], [2, undefined], [undefined, 1], [undefined, undefined]]);
    expect(b.links.map((l) => [l.greKey, l.vni])).toEqual([[3, undefined], [4, undefined], [undefined, 2], [undefined, undefined]]);
    expect([a.groupId, b.groupId]).toEqual([4096, 4097]);
    const c = await ipam.allocate({ slice: 'c', links: [], groupId: false });
    expect(c.groupId).toBeUndefined();
  });

  it('draws from the configured ranges and reports exhaustion by kind', async () => {
    const { ipam } = await setup({ identifiers: { greKey: [{ first: 100, last: 101 }, { first: 200, last: 201 }] } });
    const a = await ipam.allocate({ slice: 'a', links: ['x', 'y', 'z'].map((n) => p2p(n, { identifier: 'greKey' })) });
    expect(a.links.map((l) => l.greKey)).toEqual([100, 101, 200]);
    await expectError(
      ipam.allocate({ slice: 'b', links: ['x', 'y'].map((n) => p2p(n, { identifier: 'greKey' })) }),
      'VISP_POOL_EXHAUSTED',
      'greKey range 100-101, 200-201: exhausted: asked for 2 GRE keys, 1 free',
    );
  });

  it('a failed allocation leaves nothing behind and takes no space', async () => {
    const { ipam, store } = await setup({ identifiers: { vni: [{ first: 1, last: 1 }] } });
    const links = [p2p('a', { ipv4: { class: 'public' }, identifier: 'vni' }), p2p('b', { ipv4: { class: 'public' }, identifier: 'vni' })];
    const before = (await store.read([])).revision;
    await expectError(ipam.allocate({ slice: 's', links }), 'VISP_POOL_EXHAUSTED', 'asked for 2 VNIs, 1 free');
    expect((await store.read([])).revision).toBe(before);
    expect(await ipam.get('s')).toBeUndefined();
    // The block the failed plan had picked is still the first one handed out.
    const ok = await ipam.allocate({ slice: 't', links: [links[0]!] });
    expect(blockOf(ok, 'public', 'ipv4')).toBe('198.51.100.0/28');
  });
});

describe('slices', () => {
  it('one allocation per slice', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 's', links: [] });
    await expectError(ipam.allocate({ slice: 's', links: [] }), 'VISP_ALREADY_EXISTS', 'slice "s": already has an allocation (allocated, expires 2030-01-01T00:10:00.000Z)');
  });

  it('get returns what allocate returned; unknown slices are undefined', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 'urn:publicid:IDN+example.net+slice+x/y', links: [p2p('l', { ipv4: { class: 'private' }, identifier: 'vni' })] });
    expect(await ipam.get(a.slice)).toEqual(a);
    expect(await ipam.get('nope')).toBeUndefined();
  });

  it('refuses to allocate before the pools are configured', async () => {
    const { createIpam } = await import('./ipam.js');
    const { createMemoryStore } = await import('../store/index.js');
    const ipam = createIpam({ store: createMemoryStore() });
    await expectError(ipam.allocate({ slice: 's', links: [] }), 'VISP_INCOMPATIBLE_STATE', 'no configuration yet');
  });

  it('honours an aborted signal without writing', async () => {
    const { ipam, store } = await setup();
    const before = (await store.read([])).revision;
    await expect(ipam.allocate({ slice: 's', links: [] }, { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
    expect((await store.read([])).revision).toBe(before);
  });
});
