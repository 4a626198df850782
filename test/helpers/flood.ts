// One aggregate manager flooding the controller, as a process of its own (so
// that its client work does not share the event loop of the controller or of
// the caller whose latency is being measured): `node --import tsx
// test/helpers/flood.ts '<json FloodOptions>'`. `concurrency` callers each
// loop, alternating an Allocate (a fresh slice, one IPv6-only link) and a
// Status, for `durationMs`. Prints "flood: start" when the first calls go
// out, then one JSON line: calls, per-status counts, wall time. With
// `absurd` it sends instead one request with that many links, encoded before
// the clock starts, prints "flood: start" just before the call and then
// { ms, bytes, code, details } of the answer.
import * as grpc from '@grpc/grpc-js';
import { visp } from '../../src/api/proto.js';
import { CertificateFiles, channelCredentials, TLS_CHANNEL_OPTIONS } from '../../src/api/tls.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { rawClient } from './trust.js';

export interface FloodOptions {
  address: string;
  tls: TlsFiles;
  /** Two physical nodes the slices' one link joins. */
  nodes: [string, string];
  /** Slice ids are `${prefix}-<n>`. */
  prefix: string;
  concurrency: number;
  durationMs: number;
  absurd?: { method: 'Links.Allocate' | 'Operator.Plan'; links: number; deadlineMs?: number };
}

const o = JSON.parse(process.argv[2] ?? '{}') as FloodOptions;
const c = rawClient(o.address, channelCredentials(new CertificateFiles(o.tls)));
const topology = {
  nodes: [{ id: 'r1', node: o.nodes[0] }, { id: 'r2', node: o.nodes[1] }],
  links: [{ id: 'p', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_VXLAN', ipv6: { enabled: true } }],
};
const codes: Record<string, number> = {};
let calls = 0;
let n = 0;
const count = async (p: Promise<unknown>): Promise<void> => {
  let code = 'OK';
  try { await p; } catch (e) { code = grpc.status[(e as grpc.ServiceError).code] ?? 'ERROR'; }
  codes[code] = (codes[code] ?? 0) + 1;
  calls++;
};
await c.call('Links.GetVersion', {}).catch(() => undefined); // the connection is up before the clock starts
if (o.absurd) {
  // Encoded first, then sent as bytes: the time measured is the wire's and the controller's, not our encoder's.
  const [svc, rpc] = o.absurd.method.split('.') as ['Links' | 'Operator', string];
  const def = (visp().pkg.visp.v1[svc] as unknown as { service: Record<string, { path: string; requestSerialize(r: unknown): Buffer }> }).service[rpc]!;
  const big = { ...topology, links: Array.from({ length: o.absurd.links }, (_, i) => ({ ...topology.links[0], id: `l${i}` })) };
  const bytes = def.requestSerialize({ slice: `${o.prefix}-absurd`, topology: big });
  const raw = new grpc.Client(o.address, channelCredentials(new CertificateFiles(o.tls)), { ...TLS_CHANNEL_OPTIONS });
  await new Promise<void>((resolve, reject) => raw.waitForReady(Date.now() + 20_000, (e) => (e ? reject(e) : resolve())));
  process.stdout.write('flood: start\n');
  const t = Date.now();
  const r = await new Promise<{ code: string; details: string }>((resolve) => {
    raw.makeUnaryRequest(def.path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline: t + (o.absurd!.deadlineMs ?? 60_000) }, (e) => resolve(e ? { code: grpc.status[e.code] ?? 'ERROR', details: e.details } : { code: 'OK', details: '' }));
  });
  process.stdout.write(`${JSON.stringify({ ms: Date.now() - t, bytes: bytes.length, ...r })}\n`);
  raw.close();
  c.close();
  process.exit(0);
}
const start = Date.now();
const until = start + o.durationMs;
process.stdout.write('flood: start\n');
await Promise.all(Array.from({ length: o.concurrency }, async () => {
  while (Date.now() < until) {
    const slice = `${o.prefix}-${n++}`;
    await count(c.call('Links.Allocate', { slice, topology }));
    await count(c.call('Links.Status', { slice }));
  }
}));
process.stdout.write(`${JSON.stringify({ calls, codes, ms: Date.now() - start })}\n`);
c.close();
process.exit(0);
