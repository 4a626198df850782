// reconcileEgress against a fake GoBGP at the gRPC edge: a failed read of
// GoBGP's state aborts the pass with nothing applied (no peer deleted or
// re-added, no policy replaced); only GoBGP's "no such object" means absent.
// The fake keeps what it is told and answers reads from it, in the shapes
// the loader gives (the same objects reconcile sends); the same behaviour
// against a real gobgpd and BIRD is in test/bgp/bird-egress.test.ts.
import { EventEmitter } from 'node:events';
import { status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import { isNotFound, type GobgpApiClient } from './gobgp-client.js';
import { reconcileEgress, type EgressSpec } from './reconcile.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const READS = ['listPeer', 'listPath', 'listDefinedSet', 'listPolicy', 'listPolicyAssignment'] as const;
type Read = (typeof READS)[number];

const grpcError = (code: status, details: string): ServiceError =>
  Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: undefined as never });

/** An in-memory GoBGP: what it was told, readable back; every call recorded. */
class FakeGobgp {
  peers = new Map<string, Obj>();
  paths = new Map<string, Obj>();
  sets = new Map<string, Obj[]>();
  policies = new Map<string, Obj>();
  assignments = new Map<string, Obj>();
  writes: string[] = [];
  /** Writes (by operation name) that fail with this error, once each. */
  failWrites = new Map<string, ServiceError>();
  /** The next calls of these reads fail with this error (each entry once per match of `nth`). */
  fail: Array<{ read: Read; err: ServiceError; nth?: (req: Obj) => boolean }> = [];

  private stream(read: Read, req: Obj, items: Obj[]): EventEmitter {
    const s = new EventEmitter();
    const i = this.fail.findIndex((f) => f.read === read && (!f.nth || f.nth(req)));
    setImmediate(() => {
      if (i >= 0) { const [f] = this.fail.splice(i, 1); s.emit('error', f!.err); return; }
      for (const m of items) s.emit('data', m);
      s.emit('end');
    });
    return s;
  }

  private unary(op: string, fn: (req: Obj) => void) {
    return (req: Obj, _opts: unknown, cb: (err: ServiceError | null, res?: unknown) => void): void => {
      this.writes.push(op);
      let err: ServiceError | null = null;
      const injected = this.failWrites.get(op);
      this.failWrites.delete(op);
      if (injected) err = injected;
      else try { fn(req); } catch (e) { err = e as ServiceError; }
      setImmediate(() => cb(err, {}));
    };
  }

  client(): GobgpApiClient {
    const famOf = (p: Obj): string => (p.nlri.prefix.includes(':') ? 'AFI_IP6' : 'AFI_IP');
    const c = {
      listPeer: (req: Obj) => this.stream('listPeer', req, [...this.peers.values()].map((peer) => ({ peer }))),
      listPath: (req: Obj) => this.stream('listPath', req, [...this.paths.values()].filter((p) => famOf(p) === req.family.afi)
        .map((p) => ({ destination: { prefix: `${p.nlri.prefix}/${p.nlri.prefixLen}`, paths: [{ ...p, isFromExternal: false, neighborIp: '' }] } }))),
      listDefinedSet: (req: Obj) => this.stream('listDefinedSet', req, this.sets.has(req.name) ? [{ definedSet: { name: req.name, prefixes: this.sets.get(req.name) } }] : []),
      listPolicy: (req: Obj) => this.stream('listPolicy', req, this.policies.has(req.name) ? [{ policy: this.policies.get(req.name) }] : []),
      listPolicyAssignment: (req: Obj) => this.stream('listPolicyAssignment', req,
        [{ assignment: this.assignments.get(req.direction) ?? { name: 'global', direction: req.direction, policies: [], defaultAction: 'NONE' } }]),
      addDefinedSet: this.unary('AddDefinedSet', ({ definedSet: d }) => {
        const have = this.sets.get(d.name) ?? [];
        for (const p of d.prefixes) if (!have.some((x) => x.ipPrefix === p.ipPrefix && x.maskLengthMin === p.maskLengthMin)) have.push(p);
        this.sets.set(d.name, have);
      }),
      deleteDefinedSet: this.unary('DeleteDefinedSet', ({ definedSet: d }) => {
        this.sets.set(d.name, (this.sets.get(d.name) ?? []).filter((x) => !d.prefixes.some((p: Obj) => p.ipPrefix === x.ipPrefix)));
      }),
      addPolicy: this.unary('AddPolicy', ({ policy }) => { this.policies.set(policy.name, policy); }),
      deletePolicy: this.unary('DeletePolicy', ({ policy }) => {
        // GoBGP 3.10's answer for an absent policy: a plain error, gRPC UNKNOWN.
        if (!this.policies.delete(policy.name)) throw grpcError(status.UNKNOWN, `not found policy: ${policy.name}`);
      }),
      setPolicyAssignment: this.unary('SetPolicyAssignment', ({ assignment }) => { this.assignments.set(assignment.direction, assignment); }),
      deletePolicyAssignment: this.unary('DeletePolicyAssignment', ({ assignment }) => { this.assignments.delete(assignment.direction); }),
      addPeer: this.unary('AddPeer', ({ peer }) => { this.peers.set(peer.conf.neighborAddress, { transport: null, ...peer }); }),
      deletePeer: this.unary('DeletePeer', ({ address }) => { this.peers.delete(address); }),
      addPath: this.unary('AddPath', ({ path }) => { this.paths.set(`${path.nlri.prefix}/${path.nlri.prefixLen}`, path); }),
      deletePath: this.unary('DeletePath', ({ path }) => { this.paths.delete(`${path.nlri.prefix}/${path.nlri.prefixLen}`); }),
    };
    return c as unknown as GobgpApiClient;
  }
}

const spec: EgressSpec = {
  asn: 64500,
  routerId: '198.18.1.1',
  providers: [
    { address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 100 },
    { address: '2001:db8:ff01::2', asn: 64501, families: ['ipv6'], maxPrefixes: 100 },
    { address: '198.18.2.2', asn: 64502, families: ['ipv4'], maxPrefixes: 100, password: 'vt-md5-secret' },
  ],
  announcements: [{ prefix: '203.0.113.0/25', allowed: '203.0.113.0/25' }, { prefix: '2001:db8:1000::/48', allowed: '2001:db8:1000::/44' }],
  maxLength: { ipv4: 25, ipv6: 48 },
};

async function converged(): Promise<FakeGobgp> {
  const g = new FakeGobgp();
  const steps = await reconcileEgress(g.client(), spec);
  expect(steps.filter((s) => s.startsWith('add peer'))).toHaveLength(3);
  expect(await reconcileEgress(g.client(), spec)).toEqual([]);
  g.writes = [];
  return g;
}

describe('reconcileEgress: a failed read of GoBGP aborts the pass with nothing applied', () => {
  // Every read the pass makes, and each of the two calls of those read twice
  // (the export and the import policy, the allowed and the own-space sets).
  const cases: Array<[string, Read, ((req: Obj) => boolean) | undefined]> = [
    ['ListPeer', 'listPeer', undefined],
    ['ListPath ipv4', 'listPath', (r) => r.family.afi === 'AFI_IP'],
    ['ListPath ipv6', 'listPath', (r) => r.family.afi === 'AFI_IP6'],
    ['ListDefinedSet (allowed, ipv4)', 'listDefinedSet', (r) => r.name === 'visp-egress-allowed-v4'],
    ['ListDefinedSet (own, ipv6)', 'listDefinedSet', (r) => r.name === 'visp-egress-own-v6'],
    ['ListPolicy (export)', 'listPolicy', (r) => r.name === 'visp-egress-export'],
    ['ListPolicy (import)', 'listPolicy', (r) => r.name === 'visp-egress-import'],
    ['ListPolicyAssignment (export)', 'listPolicyAssignment', (r) => r.direction === 'EXPORT'],
    ['ListPolicyAssignment (import)', 'listPolicyAssignment', (r) => r.direction === 'IMPORT'],
  ];
  const errors: Array<[string, ServiceError]> = [
    ['deadline exceeded', grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded')],
    ['unavailable', grpcError(status.UNAVAILABLE, 'No connection established')],
    ['unknown (a GoBGP error that is not "not found")', grpcError(status.UNKNOWN, 'nil request')],
  ];
  for (const [name, read, nth] of cases) {
    it.each(errors)(`${name}: %s → rejected, no write at all; the next pass finds nothing to do`, async (_e, err) => {
      const g = await converged();
      g.fail.push({ read, err, ...(nth ? { nth } : {}) });
      await expect(reconcileEgress(g.client(), spec)).rejects.toThrow(/reading GoBGP's state failed, nothing applied/);
      expect(g.fail).toEqual([]); // the injected failure was hit
      expect(g.writes).toEqual([]);
      expect(await reconcileEgress(g.client(), spec)).toEqual([]);
      expect(g.writes).toEqual([]);
    });
  }

  it('a "not found" answer is absence: a missing policy is installed (and the peers re-created, as after any policy repair)', async () => {
    const g = await converged();
    g.policies.delete('visp-egress-export');
    g.fail.push({ read: 'listPolicy', err: grpcError(status.NOT_FOUND, 'no such policy'), nth: (r) => r.name === 'visp-egress-export' });
    const steps = await reconcileEgress(g.client(), spec);
    expect(steps[0]).toBe('replace export policy visp-egress-export and import policy visp-egress-import');
    expect(steps.filter((s) => s.startsWith('add peer'))).toHaveLength(3);
    expect(await reconcileEgress(g.client(), spec)).toEqual([]);
  });

  it('replacing a policy tolerates GoBGP\'s "not found policy" on delete, and stops at any other delete error', async () => {
    const g = await converged();
    g.policies.delete('visp-egress-export'); // the import policy exists, the export one is gone
    expect((await reconcileEgress(g.client(), spec))[0]).toMatch(/^replace export policy/);
    expect(await reconcileEgress(g.client(), spec)).toEqual([]);
    // A policy changed by hand, and its delete fails for another reason: the
    // step stops there; nothing is added on top, no peer is touched.
    g.policies.set('visp-egress-export', { name: 'visp-egress-export', statements: [] });
    g.failWrites.set('DeletePolicy', grpcError(status.UNAVAILABLE, 'transport is closing'));
    g.writes = [];
    await expect(reconcileEgress(g.client(), spec)).rejects.toThrow(/DeletePolicy: transport is closing/);
    expect(g.writes).toEqual(['DeletePolicyAssignment', 'DeletePolicy']);
  });
});

describe('isNotFound', () => {
  it.each([
    [status.NOT_FOUND, 'anything', true],
    [status.UNKNOWN, 'not found policy: visp-egress-export', true],
    [status.UNKNOWN, "can't delete. policy visp-egress-export is in use", false],
    [status.DEADLINE_EXCEEDED, 'not found', false],
    [status.UNAVAILABLE, 'No connection established', false],
    [status.CANCELLED, 'Cancelled on client', false],
  ])('code %i "%s" → %s', (code, details, want) => {
    expect(isNotFound(grpcError(code, details))).toBe(want);
  });

  it('call/collect turn it into NotFoundError (and nothing else)', async () => {
    const g = new FakeGobgp();
    const { call } = await import('./gobgp-client.js');
    const c = g.client();
    await expect(call(c, 'DeletePolicy', c.deletePolicy, { policy: { name: 'x' }, all: true, preserveStatements: false })).rejects.toBeInstanceOf(NotFoundError);
  });
});
