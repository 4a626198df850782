// Space in cooldown, through the API as an aggregate manager meets it: a
// refusal that lasts (FAILED_PRECONDITION), not UNAVAILABLE (which gRPC
// clients retry at once, and one spun for the whole ten minutes), saying when
// it frees in the message and in metadata (visp-frees-at, visp-retry-after-ms).
// Plan predicts the same refusal; a request that names no address is placed
// around the cooling space.
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import { kernelSkipReason } from '../helpers/netns.js';
import { Lab, p2p, type Topology } from './support.js';

const COOLDOWN_MS = 90_000;

describe.skipIf(kernelSkipReason)('e2e: an address in cooldown is refused with when it frees', () => {
  const lab = new Lab('cool', ['n1', 'n2'], { ipam: { ...LAB_POOLS, cooldownMs: COOLDOWN_MS } });
  const topo = (ipv4?: string): Topology => ({
    nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }],
    links: [p2p('l1', 'r1', 'r2', { ipv6: null, members: [{ node: 'r1', ...(ipv4 ? { ipv4 } : {}) }, { node: 'r2' }] })],
  });
  let released = 0;

  beforeAll(async () => {
    await lab.start();
    const a = lab.slice('a');
    await lab.api.links.allocate({ slice: a, topology: topo('192.0.2.9') });
    await lab.api.links.delete({ slice: a });
    released = Date.now();
  });
  afterAll(async () => { await lab.close(); });

  const refusal = async (p: Promise<unknown>): Promise<ServiceError> => {
    const err = await p.then(() => undefined, (e: ServiceError) => e);
    expect(err, 'expected a refusal').toBeDefined();
    return err!;
  };

  it.each([
    ['Allocate', (slice: string) => lab.api.links.allocate({ slice, topology: topo('192.0.2.9') })],
    ['Plan predicts it', (slice: string) => lab.api.operator.plan({ slice, topology: topo('192.0.2.9') })],
  ])('%s: FAILED_PRECONDITION naming the field, with visp-frees-at and visp-retry-after-ms', async (_what, call) => {
    const asked = Date.now();
    const err = await refusal(call(lab.slice('b')));
    expect(err.code, err.details).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/^topology\.links\[0\]\.ipv4: 192\.0\.2\.8\/31 overlaps 192\.0\.2\.0\/27, cooling down until \S+ \(frees in 1 min [0-9]+ s\) after a slice released it$/);
    expect(err.metadata.get('visp-code')).toEqual(['VISP_INCOMPATIBLE_STATE']);
    expect(err.metadata.get('visp-field')).toEqual(['topology.links[0].ipv4']);
    const freesAt = Date.parse(String(err.metadata.get('visp-frees-at')[0]));
    expect(freesAt).toBeGreaterThanOrEqual(released + COOLDOWN_MS - 5_000);
    expect(freesAt).toBeLessThanOrEqual(released + COOLDOWN_MS);
    expect(err.details).toContain(new Date(freesAt).toISOString());
    const after = Number(err.metadata.get('visp-retry-after-ms')[0]);
    expect(after).toBeGreaterThan(COOLDOWN_MS - 10_000);
    expect(Math.abs(asked + after - freesAt)).toBeLessThan(5_000);
  });

  it('without the explicit address, the same topology is placed around the cooling space', async () => {
    const { manifest } = await lab.api.links.allocate({ slice: lab.slice('c'), topology: topo() });
    expect(manifest!.blocks[0]!.prefix).toBe('192.0.2.32/27');
    await lab.api.links.delete({ slice: lab.slice('c') });
  });
});
