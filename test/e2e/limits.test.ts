// Limits that protect the shared controller, tried by a caller who wants to
// hurt it: every limit refused with RESOURCE_EXHAUSTED naming it (as
// limits.<name>), at the limit accepted, nothing left behind by a refusal; a
// 100,000-link topology refused fast while another AM's Status answers; and
// another AM's Status p99 while one AM floods the controller (measured and
// printed as one JSON line). The controllers here are our own (small limits,
// or the defaults); their nodes are Agent streams that register and answer
// plans, since no kernel is involved in what is measured.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle, type ControllerServerOptions } from '../../src/api/controller-server.js';
import { CertificateFiles, channelCredentials } from '../../src/api/tls.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';
import { agentStream, rawClient, refusal, type RawAgent, type RawClient } from '../helpers/trust.js';
import { waitFor } from '../helpers/wait.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

const NODES = ['n1', 'n2', 'n3', 'n4'] as const;

/** A controller of our own with fake nodes n1..n4 (underlay 198.18.4.x), and clients by certificate. */
class Rig {
  readonly dir = mkdtempSync(join(tmpdir(), 'visp-limits-'));
  readonly address = `unix:${join(this.dir, 'controller.sock')}`;
  readonly tag = `lim${randomBytes(3).toString('hex')}`;
  pki!: LabPki;
  ctl: ControllerHandle | undefined;
  op!: RawClient;
  private readonly streams: RawAgent[] = [];
  private readonly clients: RawClient[] = [];

  async start(o: Partial<ControllerServerOptions>): Promise<this> {
    this.pki = await labPki(join(this.dir, 'pki'), NODES);
    this.ctl = await startController({ listen: [{ address: this.address }], tls: this.pki.controller, storePath: ':memory:', labPools: true, log: () => undefined, ...o });
    for (const [i, n] of NODES.entries()) {
      const s = agentStream(this.address, this.pki.node(n), { node: n, underlay: [`198.18.4.${i + 1}`] }, { answerPlans: true });
      this.streams.push(s);
      await s.registered;
    }
    this.op = this.client(this.pki.operator);
    return this;
  }

  client(files: TlsFiles): RawClient {
    const c = rawClient(this.address, channelCredentials(new CertificateFiles(files)));
    this.clients.push(c);
    return c;
  }

  /** A client for a new AM of this name (each its own rate bucket, slice count and addresses). */
  async am(name: string): Promise<RawClient> {
    return this.client(await this.pki.issue('am', name));
  }

  slice(name: string): string { return `${this.tag}-${name}`; }

  /** What the controller holds, as the operator lists it. */
  async view(): Promise<string> {
    const { slices } = await this.op.call('Operator.ListSlices', {}) as J;
    const manifests = await Promise.all(slices.map((s: J) => this.op.call('Links.Describe', { slice: s.slice })));
    return JSON.stringify({ slices, manifests });
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.close();
    for (const c of this.clients) c.close();
    await this.ctl?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const p2p = (id: string, a: string, b: string, extra: Record<string, unknown> = {}): J =>
  ({ id, members: [{ node: a }, { node: b }], encapsulation: 'ENCAPSULATION_VXLAN', ipv4: { enabled: true }, ...extra });
const routers = (...placed: Array<[string, string]>): J[] => placed.map(([id, node]) => ({ id, node }));

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

describe('e2e limits: each limit refused with RESOURCE_EXHAUSTED naming it; nothing left behind', () => {
  const rig = new Rig();
  const limits = {
    linksPerSlice: 4, routersPerSlice: 4, nodesPerSlice: 3, membersPerLan: 3, slicesPerAm: 3, addressesPerAm: 100,
    requestBytes: 16_384, ratePerAm: { perSecond: 5, burst: 20 },
  };
  beforeAll(async () => { await rig.start({ limits }); });
  afterAll(async () => { await rig.close(); });

  /** Refused with RESOURCE_EXHAUSTED naming `limit`, and the controller holds exactly what it held before. */
  async function refusedBy(limit: string, call: () => Promise<unknown>): Promise<string> {
    const before = await rig.view();
    const r = await refusal(call());
    expect(`${r.name}: ${r.details}`).toMatch(new RegExp(`^RESOURCE_EXHAUSTED: limits\\.${limit}: `));
    expect(await rig.view()).toBe(before);
    return r.details;
  }

  it('a slice at every size limit at once is accepted (4 routers on 3 nodes, 4 links, a 3-member LAN)', async () => {
    const am = await rig.am('sizes-ok');
    const topology = {
      nodes: routers(['r1', 'n1'], ['r2', 'n2'], ['r3', 'n3'], ['r4', 'n1']),
      links: [p2p('a', 'r1', 'r2'), p2p('b', 'r2', 'r3'), p2p('c', 'r4', 'r3'), { ...p2p('lan', 'r1', 'r2'), members: [{ node: 'r1' }, { node: 'r2' }, { node: 'r3' }] }],
    };
    const m = await am.call('Links.Allocate', { slice: rig.slice('ok'), topology }) as J;
    expect(m.manifest.slivers).toHaveLength(4);
    await am.call('Links.Delete', { slice: rig.slice('ok') });
  });

  it('links_per_slice, routers_per_slice, nodes_per_slice, members_per_lan: one over is refused before anything is allocated', async () => {
    const am = await rig.am('sizes');
    const s = rig.slice('over');
    await refusedBy('links_per_slice', () => am.call('Links.Allocate', { slice: s, topology: {
      nodes: routers(['r1', 'n1'], ['r2', 'n2']), links: ['a', 'b', 'c', 'd', 'e'].map((id) => p2p(id, 'r1', 'r2')) } }));
    await refusedBy('routers_per_slice', () => am.call('Links.Allocate', { slice: s, topology: {
      nodes: routers(['r1', 'n1'], ['r2', 'n2'], ['r3', 'n3'], ['r4', 'n1'], ['r5', 'n2']), links: [p2p('a', 'r1', 'r2')] } }));
    await refusedBy('nodes_per_slice', () => am.call('Links.Allocate', { slice: s, topology: {
      nodes: routers(['r1', 'n1'], ['r2', 'n2'], ['r3', 'n3'], ['r4', 'n4']), links: [p2p('a', 'r1', 'r2'), p2p('b', 'r3', 'r4')] } }));
    const lan = await refusedBy('members_per_lan', () => am.call('Links.Allocate', { slice: s, topology: {
      nodes: routers(['r1', 'n1'], ['r2', 'n2'], ['r3', 'n3'], ['r4', 'n1']),
      links: [{ ...p2p('lan', 'r1', 'r2'), members: ['r1', 'r2', 'r3', 'r4'].map((node) => ({ node })) }] } }));
    expect(lan).toMatch(/topology\.links\[0\]/);
    expect((await refusal(am.call('Links.Status', { slice: s }))).name).toBe('NOT_FOUND');
  });

  it('slices_per_am: the fourth slice of one AM is refused; another AM is not affected; after a Delete there is room again', async () => {
    const am = await rig.am('slices');
    const other = await rig.am('slices-other');
    const topology = { nodes: routers(['r1', 'n1'], ['r2', 'n2']), links: [p2p('a', 'r1', 'r2')] };
    for (const i of [1, 2, 3]) await am.call('Links.Allocate', { slice: rig.slice(`s${i}`), topology });
    await refusedBy('slices_per_am', () => am.call('Links.Allocate', { slice: rig.slice('s4'), topology }));
    // Many at once cannot overshoot either.
    const burst = await Promise.allSettled([5, 6, 7, 8].map((i) => am.call('Links.Allocate', { slice: rig.slice(`s${i}`), topology })));
    expect(burst.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    await other.call('Links.Allocate', { slice: rig.slice('o1'), topology });
    await am.call('Links.Delete', { slice: rig.slice('s1') });
    await am.call('Links.Allocate', { slice: rig.slice('s4'), topology });
    for (const s of ['s2', 's3', 's4']) await am.call('Links.Delete', { slice: rig.slice(s) });
    await other.call('Links.Delete', { slice: rig.slice('o1') });
  });

  it('addresses_per_am: an allocation that would take an AM over is refused, and the space it would have taken is free at once', async () => {
    const am = await rig.am('addrs');
    const other = await rig.am('addrs-other');
    // 32 addresses (a /27 of the private pool), then a LAN that needs a /25 (128) pinned at 198.51.100.130: 160 > 100.
    await am.call('Links.Allocate', { slice: rig.slice('a1'), topology: {
      nodes: routers(['r1', 'n1'], ['r2', 'n2']), links: [p2p('a', 'r1', 'r2', { addressClass: 'ADDRESS_CLASS_PRIVATE' })] } });
    const big = {
      nodes: routers(['r1', 'n1'], ['r2', 'n2'], ['r3', 'n3']),
      links: [{ ...p2p('lan', 'r1', 'r2'), addressClass: 'ADDRESS_CLASS_PRIVATE', ipv4: { enabled: true, prefixLength: 25 },
        members: [{ node: 'r1', ipv4: '198.51.100.130' }, { node: 'r2' }, { node: 'r3' }] }],
    };
    await refusedBy('addresses_per_am', () => am.call('Links.Allocate', { slice: rig.slice('a2'), topology: big }));
    // Nothing of the refused allocation lingers (not even cooling down): another AM gets an address in that space now.
    const m = await other.call('Links.Allocate', { slice: rig.slice('b1'), topology: {
      nodes: routers(['r1', 'n1'], ['r2', 'n2']),
      links: [{ ...p2p('a', 'r1', 'r2', { addressClass: 'ADDRESS_CLASS_PRIVATE' }), members: [{ node: 'r1', ipv4: '198.51.100.130' }, { node: 'r2' }] }] } }) as J;
    expect(m.manifest.slivers[0].endpoints[0].addresses).toEqual(['198.51.100.130/31']);
    await other.call('Links.Delete', { slice: rig.slice('b1') });
    await am.call('Links.Delete', { slice: rig.slice('a1') });
  });

  it('request_bytes: a request over the size is refused before it is decoded, naming the limit', async () => {
    const am = await rig.am('bytes');
    const huge = { nodes: routers(['r1', 'n1'], ['r2', 'n2']), links: Array.from({ length: 1000 }, (_, i) => p2p(`link-${i}`, 'r1', 'r2')) };
    await refusedBy('request_bytes', () => am.call('Links.Allocate', { slice: rig.slice('big'), topology: huge }));
  });

  it('rate_per_am: a burst over the bucket is refused call by call; another AM at the same moment is not; the AM is served again once it slows down', async () => {
    const am = await rig.am('rate');
    const other = await rig.am('rate-other');
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => am.call('Links.GetVersion', {})));
    const refused = await Promise.all(results.filter((r) => r.status === 'rejected').map((r) => refusal(Promise.reject((r as PromiseRejectedResult).reason))));
    // A bucket of 20 refills at 5/s: of 40 at once, about 20 pass.
    expect(refused.length).toBeGreaterThanOrEqual(15);
    expect(refused.length).toBeLessThanOrEqual(21);
    for (const r of refused) expect(`${r.name}: ${r.details}`).toMatch(/^RESOURCE_EXHAUSTED: limits\.rate_per_am: .*retry in \d+ ms/);
    await other.call('Links.GetVersion', {});
    await waitFor('the AM to be served again', async () => (await am.call('Links.GetVersion', {}).then(() => true, () => false)), 5000, 100);
  });
});

/**
 * `c`'s Status of `slice` until `done` settles, one call at a time, one due
 * every 40 ms (25 a second: an AM well within limits.rate_per_am). Each
 * latency counts from when the call was due, not from when it went out: the
 * probe shares the controller's event loop, and a loop that is blocked delays
 * the sending too (a late timer must not hide the wait).
 */
async function statusOf(c: RawClient, slice: string, done: Promise<unknown>): Promise<number[]> {
  let over = false;
  void done.finally(() => { over = true; }).catch(() => undefined);
  const ms: number[] = [];
  let due = performance.now();
  while (!over) {
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const r = await c.call('Links.Status', { slice }) as J;
    const end = performance.now();
    ms.push(end - due);
    expect(r.manifest.slice).toBe(slice);
    due = Math.max(due + 40, end);
  }
  return ms;
}

/** test/helpers/flood.ts as a process of its own against `rig`: resolves at its "flood: start"; `done` with its last JSON line. */
async function floodProcess(rig: Rig, o: Record<string, unknown>): Promise<{ done: Promise<J> }> {
  const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../helpers/flood.ts', import.meta.url)), JSON.stringify({
    address: rig.address, nodes: ['n1', 'n2'], prefix: rig.slice(randomBytes(2).toString('hex')), concurrency: 1, durationMs: 0, ...o,
  })], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const started = new Promise<void>((resolve) => p.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('flood: start\n')) resolve(); }));
  const done = new Promise<J>((resolve, reject) => p.once('exit', (code) => {
    if (code !== 0) { reject(new Error(`flood.ts exited ${code}: ${err}`)); return; }
    resolve(JSON.parse(out.split('\n').filter(Boolean).pop()!));
  }));
  await Promise.race([started, done.then(() => { throw new Error(`flood.ts ended before starting: ${out} ${err}`); })]);
  return { done };
}

/** A rig with the default limits and an AM ("steady") holding one slice, whose Status is the probe. */
function defaultRig(): { rig: Rig; probe(done: Promise<unknown>): Promise<number[]> } {
  const rig = new Rig();
  let steady: RawClient;
  const S = rig.slice('steady');
  beforeAll(async () => {
    await rig.start({});
    steady = await rig.am('steady');
    await steady.call('Links.Allocate', { slice: S, topology: { nodes: routers(['r1', 'n1'], ['r2', 'n2']), links: [p2p('a', 'r1', 'r2')] } });
  });
  afterAll(async () => { await rig.close(); });
  return { rig, probe: (done) => statusOf(steady, S, done) };
}

/** Checks an absurd request's outcome and the other AM's latencies meanwhile; returns what is wrong. */
function judgeAbsurd(method: string, links: number, r: J, latencies: number[]): string[] {
  const report = {
    method, links, bytes: r.bytes, refused_ms: r.ms, code: r.code,
    other_am_status_calls: latencies.length, other_am_status_max_ms: Math.round(Math.max(...latencies, 0)),
  };
  console.log(JSON.stringify(report));
  const problems: string[] = [];
  if (!/^RESOURCE_EXHAUSTED: limits\.(links_per_slice|request_bytes): /.test(`${r.code}: ${r.details}`)) problems.push(`${method}: ${r.code}: ${String(r.details).slice(0, 200)}`);
  // Refused fast (timed from the send: the request was encoded before the clock started), and the controller never
  // stops answering others meanwhile: no Status of another AM waits half a second. (Refused by size before
  // decoding, both take well under 150 ms here; decoding and converting 100,000 links blocks the loop 0.7-2 s.)
  if (!(r.ms < 500)) problems.push(`${method}: answered after ${r.ms} ms`);
  if (!latencies.length) problems.push(`${method}: the other AM got no Status answer at all meanwhile`);
  if (!(report.other_am_status_max_ms < 500)) problems.push(`${method}: another AM's Status waited ${report.other_am_status_max_ms} ms`);
  return problems;
}

describe('e2e limits: an absurd request and a flood, against the default limits', () => {
  const { rig, probe } = defaultRig();

  it("a 100,000-link Allocate is refused fast naming the limit, while another AM's Status keeps answering", async () => {
    const { done } = await floodProcess(rig, { tls: await rig.pki.issue('am', 'absurd'), absurd: { method: 'Links.Allocate', links: 100_000, deadlineMs: 60_000 } });
    const [r, latencies] = await Promise.all([done, probe(done)]);
    expect(judgeAbsurd('Links.Allocate', 100_000, r, latencies)).toEqual([]);
  }, 90_000);

  it("while one AM floods (300 concurrent callers alternating Allocate and Status for 4 s, from another process) another AM's Status p99 stays low", async () => {
    // Baseline: the same Status calls for 2 s with no flood (what this machine gives now; a paced probe, not a wait).
    const quiet = await probe(new Promise((r) => setTimeout(r, 2000)));
    const { done } = await floodProcess(rig, { tls: await rig.pki.issue('am', 'flooder'), concurrency: 300, durationMs: 4000 });
    const [flood, latencies] = await Promise.all([done, probe(done)]);
    const report = {
      quiet_other_am_status_p99_ms: Math.round(percentile(quiet, 99) * 10) / 10,
      quiet_other_am_status_p50_ms: Math.round(percentile(quiet, 50) * 10) / 10,
      flood_other_am_status_p99_ms: Math.round(percentile(latencies, 99) * 10) / 10,
      flood_other_am_status_p50_ms: Math.round(percentile(latencies, 50) * 10) / 10,
      flood_other_am_status_calls: latencies.length,
      flood_calls: flood.calls, flood_codes: flood.codes, flood_ms: flood.ms, loadavg_1m: Math.round(loadavg()[0]! * 10) / 10,
    };
    console.log(JSON.stringify(report));
    expect(flood.calls).toBeGreaterThan(300);
    expect(flood.codes.RESOURCE_EXHAUSTED ?? 0, 'the flood met limits.rate_per_am').toBeGreaterThan(0);
    expect(latencies.length).toBeGreaterThan(20);
    // Generous (the quiet baseline is printed beside it); measured from when each probe was due, so a blocked loop counts.
    expect(report.flood_other_am_status_p99_ms).toBeLessThan(500);
  }, 60_000);
});

// Last, and on a controller of its own: today a Plan over the limit is not refused but computed (superlinear in
// links), and the computation goes on after the caller gives up.
describe('e2e limits: Operator.Plan is held to the request limits too', () => {
  const { rig, probe } = defaultRig();

  it("a read-only operator's Plan of 6,000 links (links_per_slice is 5,000) is refused fast, while another AM's Status keeps answering", async () => {
    const { done } = await floodProcess(rig, { tls: rig.pki.readonly, absurd: { method: 'Operator.Plan', links: 6000, deadlineMs: 10_000 } });
    const [r, latencies] = await Promise.all([done, probe(done)]);
    expect(judgeAbsurd('Operator.Plan', 6000, r, latencies)).toEqual([]);
  }, 60_000);
});
