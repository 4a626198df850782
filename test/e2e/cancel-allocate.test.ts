// A client that gives up on a big Allocate (cancels it, or its deadline
// passes) stops the controller's work for it: the controller over a real
// unix socket and its SQLite store, a 5,000-link request sent with grpc-js,
// and afterwards the slice does not exist, the IPAM holds nothing for it
// (the store's ipam/ keys are as before), and the same request succeeds.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type VispClient } from '../../src/api/client.js';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import type { AllocateRequest } from '../../src/api/gen/visp/v1/AllocateRequest.js';
import type { AllocateResponse__Output } from '../../src/api/gen/visp/v1/AllocateResponse.js';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import { waitFor } from '../helpers/wait.js';
import { visp } from '../../src/api/proto.js';
import { CancelledError } from '../../src/errors.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/types.js';

const NODES = 4;
const ROUTERS = 400;
const AM = 'spiffe://visp.test/am/cancel';

/** `links` VXLAN links with IPv6 between ROUTERS routers over NODES nodes (the ends on different nodes). */
function topology(links: number): AllocateRequest['topology'] {
  return {
    nodes: Array.from({ length: ROUTERS }, (_, i) => ({ id: `r${i}`, node: `n${i % NODES}` })),
    links: Array.from({ length: links }, (_, k) => {
      const a = k % ROUTERS;
      let b = (k * 7 + 1) % ROUTERS;
      if (b % NODES === a % NODES) b = (b + 1) % ROUTERS;
      return { id: `l${k}`, members: [{ node: `r${a}` }, { node: `r${b}` }], encapsulation: 'ENCAPSULATION_VXLAN' as const, ipv6: { enabled: true } };
    }),
  };
}

type LinksRaw = grpc.Client & { Allocate(req: AllocateRequest, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: AllocateResponse__Output) => void): grpc.ClientUnaryCall };

describe('a cancelled big Allocate leaves nothing behind', () => {
  let dir: string, storePath: string, c: ControllerHandle, api: VispClient, raw: LinksRaw;
  const log: string[] = [];
  /** Each Controller.allocate the server runs: entered, and how it ended. */
  const runs: Array<{ slice: string; ended: Promise<unknown> }> = [];
  let entered: ((slice: string) => void) | undefined;
  let holding = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-cancel-'));
    storePath = join(dir, 'store.db');
    c = await startController({
      listen: [{ address: `unix:${join(dir, 'c.sock')}`, plaintextIdentity: AM }], storePath,
      ipam: { ...LAB_POOLS, cooldownMs: 0 },
      limits: { requestBytes: 64 << 20, ratePerAm: { perSecond: 1000, burst: 1000 } },
      log: (l) => log.push(l),
      sweepIntervalMs: 3_600_000, // no sweep between the before and after reads of the store
    });
    const capabilities = [{ kind: 'vxlan' as const, supported: true }];
    for (let i = 0; i < NODES; i++) {
      await c.controller.agentConnected({ node: `n${i}`, underlay: [`2001:db8:ffff::${i + 1}`], capabilities },
        { peer: 'test', send: () => undefined, plan: async () => ({ endpoints: [] }), close: () => undefined });
    }
    // See each allocate the handler starts, and how it ends (a probe: the controller is unchanged).
    const allocate = c.controller.allocate.bind(c.controller);
    c.controller.allocate = (req, scope, opts) => {
      const p = allocate(req, scope, opts);
      runs.push({ slice: req.slice, ended: p.then(() => 'allocated', (e: unknown) => e) });
      entered?.(req.slice);
      return p;
    };
    // The big Allocate's first IPAM read waits until its caller has gone: the work is then provably
    // under way (decoded, placed) when the signal fires, however fast this machine is.
    const store = (c.controller as unknown as { store: Store }).store;
    const read = store.read.bind(store);
    store.read = async (queries, o) => {
      const s = o?.signal;
      if (holding && s && !s.aborted) await new Promise((resolve) => s.addEventListener('abort', resolve, { once: true }));
      return read(queries, o);
    };
    api = connect(c.address);
    const { pkg } = visp();
    raw = new pkg.visp.v1.Links(c.address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 }) as unknown as LinksRaw;
    await api.links.allocate({ slice: 'other', topology: topology(2) });
  });

  afterAll(async () => {
    raw?.close();
    api?.close();
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The store as another reader sees it: every IPAM key with its revision, and the slice records. */
  const stored = async (): Promise<{ ipam: string[]; slices: string[] }> => {
    const s = await openSqliteStore(storePath);
    try {
      const snap = await s.read([{ prefix: 'ipam/' }, { prefix: 'visp/slices/' }]);
      return { ipam: snap.results[0]!.map((e) => `${e.key}@${e.modRevision}`), slices: snap.results[1]!.map((e) => e.key) };
    } finally {
      await s.close();
    }
  };

  /** Sends a 5,000-link Allocate for `slice`; `giveUp` ends it from the client's side once the server has started on it. */
  async function abandoned(slice: string, opts: grpc.CallOptions, giveUp: (call: grpc.ClientUnaryCall) => void): Promise<{ client: grpc.ServiceError; server: unknown; stopMs: number }> {
    const started = new Promise<void>((resolve) => { entered = (s) => { if (s === slice) resolve(); }; });
    holding = true;
    let call!: grpc.ClientUnaryCall;
    const client = new Promise<grpc.ServiceError>((resolve, reject) => {
      call = raw.Allocate({ slice, topology: topology(5000) }, opts, (e) => (e ? resolve(e) : reject(new Error('the Allocate completed'))));
    });
    await started;
    giveUp(call);
    const err = await client.finally(() => { holding = false; });
    const t = performance.now();
    const server = await runs.find((r) => r.slice === slice)!.ended;
    return { client: err, server, stopMs: performance.now() - t };
  }

  it.each<[string, (slice: string) => grpc.CallOptions, (call: grpc.ClientUnaryCall) => void, grpc.status]>([
    ['the client cancels 30 ms after the server started', () => ({}), (call) => { setTimeout(() => call.cancel(), 30); }, grpc.status.CANCELLED],
    ['the client\'s deadline passes', () => ({ deadline: Date.now() + 400 }), () => undefined, grpc.status.DEADLINE_EXCEEDED],
  ])('%s: the work stops with CANCELLED, the slice does not exist, the IPAM holds nothing for it, the same request then succeeds', async (_what, opts, giveUp, code) => {
    const slice = `big-${code}`;
    const before = await stored();
    const { client, server, stopMs } = await abandoned(slice, opts(slice), giveUp);
    expect(client.code).toBe(code);
    // The server's work ended with CancelledError (it did not run on to a commit nobody would see).
    expect(server).toBeInstanceOf(CancelledError);
    // The handler audits once the work's end has come back up to it (a few promise turns after the work ended).
    const audited = (): string[] => log.filter((l) => l.startsWith('audit ') && l.includes(`"slice":"${slice}"`));
    await waitFor('the audit line', () => audited().length > 0, 2000, 5);
    const audit = audited();
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.slice('audit '.length))).toMatchObject({ verb: 'Links.Allocate', code: 'CANCELLED', identity: AM });
    // Nothing of it anywhere.
    expect(await stored()).toEqual(before);
    await expect(api.links.status({ slice })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    // The same request goes through; then Delete so the next case starts from the same store.
    const t = performance.now();
    const m = await api.links.allocate({ slice, topology: topology(5000) });
    const fullMs = performance.now() - t;
    expect(m.manifest?.slivers).toHaveLength(5000);
    // It stopped at its next safe point, not after running on: well within what the whole Allocate takes.
    expect(stopMs, `the server stopped ${stopMs.toFixed(0)} ms after the client gave up; a whole Allocate takes ${fullMs.toFixed(0)} ms`).toBeLessThan(fullMs / 2);
    await api.links.delete({ slice });
  }, 120_000);
});
