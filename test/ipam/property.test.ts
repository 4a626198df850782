// Property test: random sequences of allocate / release / provision / time /
// sweep across many slices, on small pools and ranges so that exhaustion,
// cooldown and fragmentation happen often. After every step the store must
// pass the full invariant scan (no two live blocks, subnets, addresses or
// identifiers overlap; no half-allocations; no leaks), the sweep must expire
// exactly what a simple model says, and at the end, once everything is
// released and the cooldown has passed, every address and identifier must be
// allocatable again.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VispError } from '../../src/errors.js';
import { checkInvariants, createIpam, manualClock, type AddressClass, type LinkSpec, type SliceSpec } from '../../src/ipam/index.js';
import { createMemoryStore } from '../../src/store/index.js';

const COOLDOWN = 1000;
const TTL = 5000;
const CONFIG = {
  pools: [
    { name: 'pub', prefix: '198.51.100.0/27', class: 'public' as const, defaultBlockLength: 29, largestBlockLength: 28 },
    { name: 'priv', prefix: '192.0.2.0/26', class: 'private' as const, defaultBlockLength: 28, largestBlockLength: 27 },
    { name: 'priv2', prefix: '203.0.113.0/28', class: 'private' as const },
    { name: 'loc6', prefix: '2001:db8::/56', class: 'local' as const, defaultBlockLength: 62, largestBlockLength: 58 },
  ],
  identifiers: { greKey: [{ first: 1, last: 40 }], vni: [{ first: 100, last: 130 }], groupId: [{ first: 1, last: 30 }] },
  cooldownMs: COOLDOWN,
  allocationTtlMs: TTL,
};
const SLICES = 12;
// Not UNAVAILABLE: one process on a memory store never loses a race, and space
// in cooldown is a refusal that lasts (FAILED_PRECONDITION or RESOURCE_EXHAUSTED, saying when it frees).
const EXPECTED_CODES = new Set(['VISP_NOT_FOUND', 'VISP_POOL_EXHAUSTED', 'VISP_INVALID_SPEC', 'VISP_ALREADY_EXISTS', 'VISP_INCOMPATIBLE_STATE']);

const v4Class = fc.constantFrom<AddressClass>('public', 'private');
const link = (i: number): fc.Arbitrary<LinkSpec> =>
  fc
    .record({
      members: fc.integer({ min: 2, max: 4 }),
      lanOf2: fc.boolean(),
      v4: fc.option(fc.record({ class: v4Class, wide: fc.boolean() }), { nil: undefined }),
      v6: fc.option(fc.record({ wide: fc.boolean() }), { nil: undefined }),
      identifier: fc.constantFrom(undefined, 'greKey' as const, 'vni' as const),
      // An explicit first address: an offset into the pool, often invalid or taken.
      pin: fc.option(fc.integer({ min: 0, max: 31 }), { nil: undefined, freq: 8 }),
    })
    .map(({ members, lanOf2, v4, v6, identifier, pin }): LinkSpec => {
      const shape = members === 2 && !lanOf2 ? 'p2p' : 'lan';
      const interfaces = Array.from({ length: members }, (_, j) => ({ name: `i${j}` }));
      if (v4 && pin !== undefined) {
        const base = v4.class === 'public' ? '198.51.100.' : '192.0.2.';
        interfaces[0] = { name: 'i0', ipv4: `${base}${pin}` } as (typeof interfaces)[number];
      }
      return {
        name: `l${i}`,
        shape,
        interfaces,
        ...(v4 ? { ipv4: { class: v4.class, ...(shape === 'p2p' && v4.wide ? { prefixLength: 30 } : {}) } } : {}),
        ...(v6 ? { ipv6: { class: 'local' as const, ...(shape === 'p2p' && v6.wide ? { prefixLength: 64 } : {}) } } : {}),
        ...(identifier ? { identifier } : {}),
      };
    });

const topology = fc.integer({ min: 0, max: 4 }).chain((n) =>
  fc.record({
    links: fc.tuple(...Array.from({ length: n }, (_, i) => link(i))),
    groupId: fc.boolean(),
    extraBlock: fc.option(fc.record({ class: v4Class, prefixLength: fc.integer({ min: 28, max: 30 }) }), { nil: undefined, freq: 8 }),
  }),
);

type Action =
  | { kind: 'allocate'; slice: number; spec: { links: LinkSpec[]; groupId: boolean; extraBlock?: { class: AddressClass; prefixLength: number } } }
  | { kind: 'release'; slice: number }
  | { kind: 'provision'; slice: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' };

const slice = fc.integer({ min: 0, max: SLICES - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('allocate' as const), slice, spec: topology }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), slice }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('provision' as const), slice }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const) }) },
);

function toSpec(i: number, a: Extract<Action, { kind: 'allocate' }>['spec']): SliceSpec {
  const blocks = a.extraBlock ? [{ class: a.extraBlock.class, family: 'ipv4' as const, prefixLength: a.extraBlock.prefixLength }] : [];
  return { slice: `slice-${i}`, links: a.links, groupId: a.groupId, blocks };
}

/** How often each outcome happened over all runs, so the test can show it exercised the hard cases. */
const outcomes = new Map<string, number>();
const count = (what: string): void => void outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

async function expectTyped<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    const v = await p;
    count('ok');
    return v;
  } catch (err) {
    // Refusals are fine; anything else (a TypeError, a plain Error) is a bug.
    if (!(err instanceof VispError) || !EXPECTED_CODES.has(err.code)) throw err;
    count(err.code);
    if (err.freesAt !== undefined) {
      if (!(err.retryAfterMs! > 0) || !err.message.includes(new Date(err.freesAt).toISOString())) throw err;
      count('frees-at');
    }
    return undefined;
  }
}

describe('IPAM properties', () => {
  it('random allocate/release/expire sequences keep every invariant, and everything released comes back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 20, maxLength: 60, size: 'max' }), async (actions) => {
        const store = createMemoryStore();
        const clock = manualClock();
        const ipam = createIpam({ store, clock });
        await ipam.configure(CONFIG);
        // The model: which slices hold an allocation, and until when if unprovisioned.
        const live = new Map<number, { expiresAt?: number }>();

        for (const a of actions) {
          switch (a.kind) {
            case 'allocate': {
              const got = await expectTyped(ipam.allocate(toSpec(a.slice, a.spec)));
              if (got) {
                expect(live.has(a.slice)).toBe(false);
                live.set(a.slice, { expiresAt: got.expiresAt! });
                expect(await ipam.get(got.slice)).toEqual(got);
              }
              break;
            }
            case 'release': {
              const res = await ipam.release(`slice-${a.slice}`);
              expect(res.released).toBe(live.has(a.slice));
              live.delete(a.slice);
              break;
            }
            case 'provision': {
              const m = live.get(a.slice);
              const ok = await expectTyped(ipam.markProvisioned(`slice-${a.slice}`));
              const shouldWork = m !== undefined && (m.expiresAt === undefined || m.expiresAt > clock.now());
              expect(ok !== undefined).toBe(shouldWork);
              if (ok) live.set(a.slice, {});
              break;
            }
            case 'advance':
              clock.advance(a.ms);
              break;
            case 'sweep': {
              const due = [...live].filter(([, m]) => m.expiresAt !== undefined && m.expiresAt <= clock.now()).map(([i]) => `slice-${i}`);
              const res = await ipam.sweep();
              expect([...res.expired].sort()).toEqual(due.sort());
              for (const i of [...live.keys()]) if (due.includes(`slice-${i}`)) live.delete(i);
              break;
            }
          }
          expect(await checkInvariants(store)).toEqual([]);
        }

        // Release everything, let the cooldown pass: all space and every identifier is free again.
        for (let i = 0; i < SLICES; i++) await ipam.release(`slice-${i}`);
        clock.advance(COOLDOWN);
        await ipam.sweep();
        for (const u of await ipam.usage()) {
          const pool = CONFIG.pools.find((p) => p.name === u.pool)!;
          expect(u).toMatchObject({ liveBlocks: 0, coolingBlocks: 0, largestFreeLength: Number(pool.prefix.split('/')[1]) });
        }
        const everyKey = await ipam.allocate({
          slice: 'all-ids',
          groupId: false,
          links: [
            ...Array.from({ length: 40 }, (_, i): LinkSpec => ({ name: `g${i}`, interfaces: [{ name: 'a' }, { name: 'b' }], identifier: 'greKey' })),
            ...Array.from({ length: 31 }, (_, i): LinkSpec => ({ name: `v${i}`, interfaces: [{ name: 'a' }, { name: 'b' }], identifier: 'vni' })),
          ],
        });
        expect(new Set(everyKey.links.map((l) => l.greKey ?? l.vni)).size).toBe(71);
        for (let i = 0; i < 30; i++) await ipam.allocate({ slice: `group-${i}`, links: [] });
        expect(await checkInvariants(store)).toEqual([]);
      }),
      { numRuns: 80 },
    );
    // Guard against a degenerate generator: the runs must have allocated a
    // lot, and hit exhaustion and cooldown, or they proved little.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(150);
    expect(outcomes.get('VISP_POOL_EXHAUSTED') ?? 0).toBeGreaterThan(0);
    expect(outcomes.get('frees-at') ?? 0).toBeGreaterThan(0);
  });
});
