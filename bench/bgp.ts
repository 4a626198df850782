// npm run bench -- bgp [--trials 3] [--n 10000] [--batch 1000] [--parallel 64] [--no-lab]
//
// BGP egress, measured against a real BIRD 2 provider (its table read with
// birdc, polled asynchronously every 10 ms for one prefix, 50 ms for the
// 10k count):
//
// - provision_to_bird_ms / withdraw_to_bird_ms: the whole path. A lab
//   (bench/lib/bgp-lab.ts): controller + agents in this process, a slice
//   router node and an egress node (namespaces on an emulated underlay), the
//   egress node's agent running gobgpd, one BIRD provider. Per trial: Allocate
//   a slice with an egress link; time the Provision RPC until BIRD holds the
//   slice's public IPv4 block; then the Delete RPC until BIRD no longer does.
// - apply_to_bird_ms / apply_withdraw_to_bird_ms: the egress node alone:
//   EgressNode.apply announcing (withdrawing) one prefix until BIRD has it
//   (has dropped it). What the agent's part costs, without the controller.
// - announce_10k_s: 10,000 IPv6 /48s from one egress node until BIRD holds all
//   of them, through EgressNode.apply (what the agent does: reconcile, one
//   AddPath per prefix). Beside it, the same 10k injected straight through
//   GoBGP's API: AddPath calls with `parallel` in flight, and AddPathStream
//   with `batch` paths per message — how fast GoBGP could take them.
// - provider_10k_to_slice_table_s / …_withdrawn_from_slice_table_s: the
//   receiving side. BIRD announces a "full table" of 10,000 IPv6 /48s
//   (`birdc enable bulk6`); GoBGP's best-path watch feeds SliceTables, which
//   installs them into a slice's table (`routes: full`) on the egress node:
//   until all are in (checked by a kernel dump), and after `disable bulk6`
//   until all are gone.
//
// Medians of `trials`. Namespaces are "vb-…", always removed; gobgpd and
// BIRD are stopped by pid. Progress on stderr; the last stdout line is JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressNode } from '../src/bgp/egress-node.js';
import { call, type GobgpApiClient } from '../src/bgp/gobgp-client.js';
import { localPath, type EgressSpec } from '../src/bgp/reconcile.js';
import { SliceTables } from '../src/bgp/slice-tables.js';
import { watchProviderRoutes, type ProviderRouteWatch } from '../src/bgp/watch.js';
import { parsePrefix } from '../src/ipam/prefix.js';
import { routeList } from '../src/netlink/route.js';
import { BirdProvider, bgpMissing, poll, providerConfig, vethBetween } from './lib/bgp-env.js';
import { labTrials, type LabTrial } from './lib/bgp-lab.js';
import { log, median, now, round, settle } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, removeNetns, scratchNetns } from './lib/scratch.js';
import { NetlinkSocket } from '../src/netlink/socket.js';

interface Options { trials: number; n: number; batch: number; parallel: number; lab: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { trials: 3, n: 10_000, batch: 1000, parallel: 64, lab: true };
  parseOptions(argv, {
    '--trials': (v) => { o.trials = v.int(); },
    '--n': (v) => { o.n = v.int(); },
    '--batch': (v) => { o.batch = v.int(); },
    '--parallel': (v) => { o.parallel = v.int(); },
    '--no-lab': () => { o.lab = false; },
  });
  if (o.n > 0x7000) throw new Error('--n: at most 28672 (IPv6 /48s: ours from 2001:db8:1000:: inside 2001:db8::/33, the provider\'s from 2001:db8:8000::)');
  return o;
}

const OUR_ASN = 64500;
/**
 * The block every prefix we announce lies in; a marker inside it keeps the
 * export policy's set open for it. The provider's routes come from the
 * other half (2001:db8:8000::/33): GoBGP's import policy rejects provider
 * routes inside our own blocks.
 */
const ALLOWED6 = '2001:db8::/33';
const MARKER = '2001:db8:100::/48';
const ONE = '203.0.113.0/24';

/** Prefix i of the 10k: 2001:db8:1000::/48, 2001:db8:1001::/48, … (clear of the underlay's 2001:db8:ffxx). */
const nth = (i: number): string => `2001:db8:${(0x1000 + i).toString(16)}::/48`;
/** Prefix i of the provider's full table: 2001:db8:8000::/48, … */
const theirs = (i: number): string => `2001:db8:${(0x8000 + i).toString(16)}::/48`;
/** The slice whose table takes the provider's full table (its link: veth sa0 to a slice namespace). */
const FULL_SLICE = { slice: 'bench', table: 4096, blocks: ['2001:db8:7000::/48'], nextHops: [{ address: '2001:db8:50::2', dev: 'sa0' }], routes: 'full' as const };

let maxPrefixes6 = 10;
function baseSpec(): EgressSpec {
  return {
    asn: OUR_ASN, routerId: '198.18.1.1',
    providers: [
      { address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 10, connectRetrySec: 1 },
      { address: '2001:db8:ff01::2', asn: 64501, families: ['ipv6'], maxPrefixes: maxPrefixes6, connectRetrySec: 1 },
    ],
    announcements: [{ prefix: MARKER, allowed: ALLOWED6 }],
    maxLength: { ipv4: 24, ipv6: 48 },
  };
}

interface Env { node: EgressNode; bird: BirdProvider; tables: SliceTables; watch: ProviderRouteWatch; egress: string; close: () => Promise<void> }

async function egressEnv(o: Options): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'vb-bgp-'));
  const made: string[] = [];
  let node: EgressNode | undefined;
  let bird: BirdProvider | undefined;
  let tables: SliceTables | undefined;
  let watch: ProviderRouteWatch | undefined;
  const close = async (): Promise<void> => {
    watch?.close();
    tables?.close();
    await node?.stop().catch(() => undefined);
    await bird?.stop();
    for (const ns of made) removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const egress = scratchNetns('bgpe');
    made.push(egress);
    const provider = scratchNetns('bgpp');
    made.push(provider);
    const slice = scratchNetns('bgps');
    made.push(slice);
    vethBetween(egress, 'up0', ['198.18.1.1/30', '2001:db8:ff01::1/64'], provider, 'eg0', ['198.18.1.2/30', '2001:db8:ff01::2/64']);
    vethBetween(egress, 'sa0', ['2001:db8:50::1/64'], slice, 'up0', ['2001:db8:50::2/64']);
    maxPrefixes6 = o.n + 100;
    bird = new BirdProvider(provider, dir, 'prov', providerConfig({
      asn: 64501, ourAsn: OUR_ASN, theirs: ['198.18.1.2', '2001:db8:ff01::2'], ours: ['198.18.1.1', '2001:db8:ff01::1'],
      send6: Array.from({ length: o.n }, (_, i) => theirs(i)),
    }));
    const gobgpLog: string[] = [];
    node = new EgressNode({ spec: baseSpec(), apiSocket: join(dir, 'gobgp.sock'), netns: egress, listenPort: -1, log: (l) => { gobgpLog.push(l); if (gobgpLog.length > 50) gobgpLog.shift(); } });
    await node.start();
    const b = bird;
    await poll('BIRD sessions Established', () => b.established('egress4', 'egress6'), 30_000, 100)
      .catch((e: Error) => { throw new Error(`${e.message}\nBIRD: ${b.log.slice(-5).join('\n')}\ngobgpd: ${gobgpLog.slice(-5).join('\n')}`); });
    await poll('the marker at BIRD', () => b.has(MARKER), 10_000);
    // The egress node's data path: one slice that asks for the providers' full table.
    tables = new SliceTables({ netns: egress });
    await tables.setDesired([FULL_SLICE]);
    const t = tables;
    watch = watchProviderRoutes(node.speaker.client, (ch) => t.onProviderRoute(ch));
    return { node, bird, tables, watch, egress, close };
  } catch (e) {
    await close();
    throw e;
  }
}

const ms = (s: number): number => round(s * 1000, 1);

/** EgressNode.apply: one prefix announced until BIRD has it, withdrawn until it is gone. */
async function applyOne(env: Env): Promise<{ announce: number; withdraw: number }> {
  const base = baseSpec();
  const withOne: EgressSpec = { ...base, announcements: [...base.announcements, { prefix: ONE, allowed: ONE }] };
  await settle();
  let t = now();
  await env.node.apply(withOne);
  await poll(`${ONE} at BIRD`, () => env.bird.has(ONE), 10_000, 5);
  const announce = now() - t;
  await settle();
  t = now();
  await env.node.apply(base);
  await poll(`${ONE} gone from BIRD`, async () => !(await env.bird.has(ONE)), 10_000, 5);
  return { announce, withdraw: now() - t };
}

/** Until BIRD holds `want` routes from the IPv6 session. */
const birdCount = (env: Env, want: number, what: string): Promise<number> =>
  poll(what, async () => ((await env.bird.count('egress6')) === want ? true : undefined), 300_000, 50).then(() => now());

type Method = 'apply' | 'addpath' | 'stream';

/** GoBGP's unary AddPath/DeletePath for each prefix, `parallel` in flight. */
async function addPathParallel(c: GobgpApiClient, prefixes: string[], parallel: number, withdraw: boolean): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < prefixes.length) {
      const p = parsePrefix(prefixes[next++]!, 'prefix');
      if (withdraw) await call(c, 'DeletePath', c.deletePath, { tableType: 'GLOBAL', family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' }, path: localPath(p) as never }, 30_000);
      else await call(c, 'AddPath', c.addPath, { tableType: 'GLOBAL', path: localPath(p) as never }, 30_000);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** GoBGP's AddPathStream: `batch` paths per message, one stream (withdrawals: isWithdraw on each path). */
function addPathStream(c: GobgpApiClient, prefixes: string[], batch: number, withdraw: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = c.addPathStream({ deadline: Date.now() + 300_000 }, (err) => (err ? reject(new Error(`AddPathStream: ${err.details || err.message}`)) : resolve()));
    for (let i = 0; i < prefixes.length; i += batch) {
      s.write({ tableType: 'GLOBAL', paths: prefixes.slice(i, i + batch).map((p) => ({ ...localPath(parsePrefix(p, 'prefix')), isWithdraw: withdraw }) as never) });
    }
    s.end();
  });
}

async function announceN(env: Env, o: Options, method: Method): Promise<{ announce: number; withdraw: number; callsDone: number }> {
  const prefixes = Array.from({ length: o.n }, (_, i) => nth(i));
  const base = baseSpec();
  const c = env.node.speaker.client;
  await settle();
  const t0 = now();
  let callsDone = 0;
  if (method === 'apply') {
    const big: EgressSpec = { ...base, announcements: [...base.announcements, ...prefixes.map((prefix) => ({ prefix, allowed: ALLOWED6 }))] };
    const steps = await env.node.apply(big);
    if (steps.length !== o.n) throw new Error(`apply: ${steps.length} steps for ${o.n} prefixes (e.g. ${steps[0]})`);
  } else if (method === 'addpath') await addPathParallel(c, prefixes, o.parallel, false);
  else await addPathStream(c, prefixes, o.batch, false);
  callsDone = now() - t0;
  const t1 = await birdCount(env, o.n + 1, `${o.n} prefixes at BIRD (${method})`);
  await settle();
  const t2 = now();
  if (method === 'apply') await env.node.apply(base);
  else if (method === 'addpath') await addPathParallel(c, prefixes, o.parallel, true);
  else await addPathStream(c, prefixes, o.batch, true);
  const t3 = await birdCount(env, 1, `${o.n} prefixes withdrawn at BIRD (${method})`);
  return { announce: t1 - t0, withdraw: t3 - t2, callsDone };
}

/** Routes of ours in the slice's table, counted by a kernel dump. */
async function kernelCount(egress: string): Promise<number> {
  const s = new NetlinkSocket({ netns: egress });
  try { return (await routeList(s, 10)).filter((r) => r.table === FULL_SLICE.table && r.protocol === 201).length; } finally { s.close(); }
}

/** The provider announces its full table (n prefixes): until SliceTables has them all in the slice's table; then withdraws it. */
async function fullTable(env: Env, o: Options): Promise<{ install: number; remove: number; watched: number }> {
  const installed = (): number => env.tables.status()[0]?.routesInstalled ?? 0;
  await settle();
  const t0 = now();
  let watched = 0;
  await env.bird.birdc('enable', 'bulk6');
  await poll(`${o.n} provider routes in the slice table`, () => {
    if (!watched && env.watch.routes.size >= o.n) watched = now() - t0;
    return installed() >= o.n;
  }, 300_000, 20);
  const install = now() - t0;
  const inKernel = await kernelCount(env.egress);
  if (inKernel !== o.n + 1) throw new Error(`slice table: ${inKernel} routes in the kernel, expected ${o.n} + the block route`);
  await settle();
  const t1 = now();
  await env.bird.birdc('disable', 'bulk6');
  await poll('provider routes gone from the slice table', () => installed() === 0, 300_000, 20);
  const remove = now() - t1;
  if (env.tables.lastError) throw env.tables.lastError;
  if ((await kernelCount(env.egress)) !== 1) throw new Error('slice table: provider routes left in the kernel after the withdrawal');
  return { install, remove, watched: watched || install };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupOnSignal();
  if (process.getuid?.() !== 0) throw new Error('the bgp benchmark needs root (CAP_NET_ADMIN) to create network namespaces');
  const missing = bgpMissing();
  if (missing) throw new Error(`the bgp benchmark needs ${missing}`);
  log(`bgp benchmark: ${o.trials} trials, n=${o.n}, stream batch ${o.batch}, ${o.parallel} AddPath calls in flight${o.lab ? '' : ', no lab'}`);

  let lab: LabTrial[] = [];
  if (o.lab) {
    log('lab: controller + agents, slice router node + egress node, one BIRD provider');
    lab = await labTrials(o.trials);
  }

  log('egress node alone: EgressNode + one BIRD provider');
  const env = await egressEnv(o);
  const full: Array<{ install: number; remove: number; watched: number }> = [];
  const one: Array<{ announce: number; withdraw: number }> = [];
  const many: Record<Method, Array<{ announce: number; withdraw: number; callsDone: number }>> = { apply: [], addpath: [], stream: [] };
  try {
    for (let t = 1; t <= o.trials; t++) {
      const r = await applyOne(env);
      log(`  trial ${t}: apply one prefix → BIRD ${ms(r.announce)} ms, withdraw → gone ${ms(r.withdraw)} ms`);
      one.push(r);
    }
    for (const method of ['apply', 'addpath', 'stream'] as const) {
      for (let t = 1; t <= o.trials; t++) {
        const r = await announceN(env, o, method);
        log(`  trial ${t}: ${o.n} via ${method}: calls done ${r.callsDone.toFixed(2)} s, all at BIRD ${r.announce.toFixed(2)} s; withdrawn at BIRD ${r.withdraw.toFixed(2)} s`);
        many[method].push(r);
      }
    }
    for (let t = 1; t <= o.trials; t++) {
      const r = await fullTable(env, o);
      log(`  trial ${t}: provider's full table of ${o.n} → all seen by the best-path watch ${r.watched.toFixed(2)} s, all in the slice's kernel table ${r.install.toFixed(2)} s; withdrawn → removed ${r.remove.toFixed(2)} s`);
      full.push(r);
    }
  } finally {
    await env.close();
  }

  const med = (xs: number[]): number => median(xs);
  const k = o.n === 10_000 ? '10k' : String(o.n); // the figures are named by what was measured
  const result = {
    ...(lab.length ? {
      provision_to_bird_ms: ms(med(lab.map((x) => x.provisionToBird))),
      withdraw_to_bird_ms: ms(med(lab.map((x) => x.deleteToBird))),
      provision_rpc_ms: ms(med(lab.map((x) => x.provisionRpc))),
      delete_rpc_ms: ms(med(lab.map((x) => x.deleteRpc))),
    } : { provision_to_bird_ms: null, withdraw_to_bird_ms: null, lab: 'skipped (--no-lab)' }),
    [`announce_${k}_s`]: round(med(many.apply.map((x) => x.announce)), 2),
    [`withdraw_${k}_s`]: round(med(many.apply.map((x) => x.withdraw)), 2),
    [`announce_${k}_addpath_parallel_s`]: round(med(many.addpath.map((x) => x.announce)), 2),
    [`announce_${k}_stream_s`]: round(med(many.stream.map((x) => x.announce)), 2),
    [`withdraw_${k}_stream_s`]: round(med(many.stream.map((x) => x.withdraw)), 2),
    [`provider_${k}_to_slice_table_s`]: round(med(full.map((x) => x.install)), 2),
    [`provider_${k}_withdrawn_from_slice_table_s`]: round(med(full.map((x) => x.remove)), 2),
    [`provider_${k}_seen_by_watch_s`]: round(med(full.map((x) => x.watched)), 2),
    apply_to_bird_ms: ms(med(one.map((x) => x.announce))),
    apply_withdraw_to_bird_ms: ms(med(one.map((x) => x.withdraw))),
    target_provision_to_bird_ms: 1000,
    targets_met: lab.length ? { provision_to_bird_ms: med(lab.map((x) => x.provisionToBird)) <= 1 } : {},
    n: o.n, trials: o.trials, stream_batch: o.batch, addpath_parallel: o.parallel,
    samples: {
      ...(lab.length ? { provision_to_bird_ms: lab.map((x) => ms(x.provisionToBird)), withdraw_to_bird_ms: lab.map((x) => ms(x.deleteToBird)) } : {}),
      [`announce_${k}_s`]: many.apply.map((x) => round(x.announce, 2)),
      [`announce_${k}_apply_returned_s`]: many.apply.map((x) => round(x.callsDone, 2)),
      [`announce_${k}_addpath_parallel_s`]: many.addpath.map((x) => round(x.announce, 2)),
      [`announce_${k}_stream_s`]: many.stream.map((x) => round(x.announce, 2)),
      apply_to_bird_ms: one.map((x) => ms(x.announce)),
      [`provider_${k}_to_slice_table_s`]: full.map((x) => round(x.install, 2)),
    },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  log(`bgp benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
