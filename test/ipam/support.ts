// Shared set-up for the IPAM tests: a store, a manual clock, the test pools
// (documentation ranges only), and error assertions.
import { expect } from 'vitest';
import { InvalidSpecError, VispError } from '../../src/errors.js';
import { checkInvariants, createIpam, manualClock, type Ipam, type IpamConfigSpec, type LinkSpec } from '../../src/ipam/index.js';
import { createMemoryStore, type Store } from '../../src/store/index.js';

export const POOLS: IpamConfigSpec['pools'] = [
  { name: 'priv-v4', prefix: '192.0.2.0/24', class: 'private' },
  { name: 'pub-v4', prefix: '198.51.100.0/24', class: 'public' },
  { name: 'loc-v4', prefix: '203.0.113.0/24', class: 'local' },
  { name: 'loc-v6', prefix: '2001:db8::/40', class: 'local' },
  { name: 'pub-v6', prefix: '2001:db8:100::/40', class: 'public' },
];

export interface Rig {
  readonly ipam: Ipam;
  readonly store: Store;
  readonly clock: ReturnType<typeof manualClock>;
}

export async function rig(config: Partial<IpamConfigSpec> = {}, store: Store = createMemoryStore()): Promise<Rig> {
  const clock = manualClock();
  const ipam = createIpam({ store, clock });
  await ipam.configure({ pools: POOLS, ...config });
  return { ipam, store, clock };
}

export async function expectSane(store: Store): Promise<void> {
  expect(await checkInvariants(store)).toEqual([]);
}

/** A point-to-point link with two auto-addressed interfaces. */
export const p2p = (name: string, extra: Partial<LinkSpec> = {}): LinkSpec => ({
  name,
  interfaces: [{ name: `${name}:a` }, { name: `${name}:b` }],
  ...extra,
});

export async function expectError(p: Promise<unknown>, code: string, message: string | RegExp): Promise<VispError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected an error').toBeInstanceOf(VispError);
  const v = err as VispError;
  expect({ code: v.code, message: v.message }).toMatchObject({ code, message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message) });
  return v;
}

/** `parse()` throws an InvalidSpecError whose message contains `message` and which names `field`. */
export function expectInvalidSpec(parse: () => unknown, message: string, field: string): void {
  let err: unknown;
  try {
    parse();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidSpecError);
  expect((err as Error).message).toContain(message);
  expect((err as InvalidSpecError).field).toBe(field);
  expect((err as InvalidSpecError).code).toBe('VISP_INVALID_SPEC');
}

export const MINUTE = 60_000;
