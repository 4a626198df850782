// A storm of aggregate managers on an HA visp (support.ts): `clients` at
// once, each doing `cycles` of Allocate → Provision → (every other cycle)
// Delete on a slice of its own, starting on controller (client mod n) and
// moving to the next controller whenever one does not answer (UNAVAILABLE,
// or the connection is gone). What each acknowledged reply promised is
// checked against the store afterwards: a slice whose Allocate or Provision
// was acknowledged (and no Delete after it) must be there, one whose Delete
// was acknowledged must not; no two slices may hold overlapping blocks.
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { Topology } from '../../src/api/gen/visp/v1/Topology.js';
import type { VispClient } from '../../src/api/client.js';
import { overlaps, parsePrefix } from '../../src/ipam/prefix.js';
import type { HaLab } from './ha-lab.js';

export interface StormResult {
  /** Acknowledged Allocate replies. */
  acked: number;
  /** Slices the store contradicts an acknowledged reply about. */
  lostAcks: string[];
  /** Pairs of slices holding overlapping blocks. */
  doubleAllocations: number;
  alive: string[];
  allocsPerS: number;
  /** Calls that had to move to another controller. */
  moved: number;
  errors: Record<string, number>;
}

export async function runStorm(lab: HaLab, o: { clients: number; cycles: number; topology: Topology; controllers?: number[]; killAfterMs?: number; onKill?: () => Promise<void>; tag?: string }): Promise<StormResult> {
  const use = o.controllers ?? lab.controllers.map((c) => c.i);
  const expect = new Map<string, 'present' | 'absent' | 'unknown'>();
  const errors: Record<string, number> = {};
  let acked = 0;
  let moved = 0;
  const t0 = Date.now();
  const killing = o.onKill ? new Promise<void>((r) => setTimeout(r, o.killAfterMs ?? 0)).then(o.onKill) : Promise.resolve();

  const client = async (k: number): Promise<void> => {
    let at = k % use.length;
    const clients = new Map<number, VispClient>();
    const on = (): VispClient => { const i = use[at]!; let c = clients.get(i); if (!c) { c = lab.client(i); clients.set(i, c); } return c; };
    /** One call, moved to the next controller while controllers do not answer; undefined: gave up. */
    const call = async <T>(what: string, fn: (c: VispClient) => Promise<T>, ok: (e: ServiceError) => boolean = () => false): Promise<T | 'ok-after-retry' | undefined> => {
      let retried = false;
      for (let attempt = 0; attempt < 3 * use.length + 6; attempt++) {
        try {
          return await fn(on());
        } catch (e) {
          const err = e as ServiceError;
          if (retried && ok(err)) return 'ok-after-retry';
          const key = `${what}:${grpcStatus[err.code] ?? err.code}`;
          errors[key] = (errors[key] ?? 0) + 1;
          if (err.code !== grpcStatus.UNAVAILABLE && err.code !== grpcStatus.DEADLINE_EXCEEDED && err.code !== grpcStatus.CANCELLED) return undefined;
          retried = true;
          moved++;
          at = (at + 1) % use.length;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return undefined;
    };
    try {
      for (let cycle = 0; cycle < o.cycles; cycle++) {
        const slice = lab.slice(`${o.tag ?? 'st'}${k}x${cycle}`);
        expect.set(slice, 'unknown');
        const a = await call('allocate', (c) => c.links.allocate({ slice, topology: o.topology }), (e) => e.code === grpcStatus.ALREADY_EXISTS);
        if (a === undefined) continue;
        if (a !== 'ok-after-retry') acked++;
        expect.set(slice, a === 'ok-after-retry' ? 'unknown' : 'present');
        const p = await call('provision', (c) => c.links.provision({ slice }));
        if (p === undefined) { expect.set(slice, 'unknown'); continue; }
        if (cycle % 2 === 1) {
          expect.set(slice, 'unknown');
          const d = await call('delete', (c) => c.links.delete({ slice }), (e) => e.code === grpcStatus.NOT_FOUND);
          if (d !== undefined) expect.set(slice, 'absent');
        }
      }
    } finally {
      for (const c of clients.values()) c.close();
    }
  };
  await Promise.all([...Array.from({ length: o.clients }, (_, k) => client(k)), killing]);
  const seconds = (Date.now() - t0) / 1000;

  const headers = (await lab.store.read([{ prefix: 'visp/slices/' }])).results[0]!;
  const present = new Map(headers.map((e) => [e.key.slice('visp/slices/'.length), JSON.parse(e.value) as { blocks: Array<{ prefix: string }>; state: string }]));
  const lostAcks = [...expect].filter(([s, want]) => (want === 'present' && !present.has(s)) || (want === 'absent' && present.has(s))).map(([s, want]) => `${s} (${want})`);
  const blocks = [...present].flatMap(([s, r]) => (r.state === 'shutdown' ? [] : r.blocks.map((b) => ({ s, p: parsePrefix(b.prefix, 'prefix') }))));
  let doubleAllocations = 0;
  for (let i = 0; i < blocks.length; i++) for (let j = i + 1; j < blocks.length; j++) if (blocks[i]!.s !== blocks[j]!.s && overlaps(blocks[i]!.p, blocks[j]!.p)) doubleAllocations++;
  return { acked, lostAcks, doubleAllocations, alive: [...expect].filter(([, w]) => w === 'present').map(([s]) => s), allocsPerS: acked / seconds, moved, errors };
}
