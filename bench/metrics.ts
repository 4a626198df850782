// npm run bench -- metrics [--n 1000] [--scrapes 50] [--exp-ns 4] [--interval-ms 2000] [--slices 10000]
//
// The cost of an agent's metrics at scale: one agent core (the real one,
// src/agent/agent.ts) reconciles N VXLAN endpoints in a fresh node
// namespace with real netlink, keeping its metrics as it goes; its
// Prometheus endpoint (src/api/metrics-server.ts, HTTPS with a node
// certificate) is scraped S times over one kept-alive connection with a
// read-only operator's certificate, as Prometheus does. Reported: the
// scrape's wall time (median, p99, max), the part of it that holds the
// event loop (formatting the text, timed in-process), the body's size and
// its series, and how long a reconcile pass takes (it is where the
// counters are read from the kernel: the scrape itself reads nothing).
// The scrapes are timed twice: with the agent idle between passes (no
// timer), which is the scrape's own cost, and with its reconcile timer
// running (--interval-ms, the default 2 s), where a scrape waits for the
// turns a pass leaves it.
//
// Then the controller's side: a controller (memory store) whose IPAM holds
// --slices one-link slices (allocated through a second IPAM on the same
// store, as a second controller would), scraped in-process: the first scrape
// reads IPAM's figures on IPAM's queue, later ones within 5 s reuse them.
// The longest event-loop stall during the scrapes is what the controller's
// rule (no request holds the loop more than tens of ms) is about.
// Namespaces are "vb-…" and always removed. The last stdout line is JSON.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentCore, type Report } from '../src/agent/agent.js';
import { startMetricsServer } from '../src/api/metrics-server.js';
import { CertificateFiles } from '../src/api/tls.js';
import { NodeKernel } from '../src/endpoint/node.js';
import { AgentMetrics } from '../src/metrics/agent.js';
import { ControllerMetrics, IPAM_MAX_AGE_MS } from '../src/metrics/controller.js';
import { Controller } from '../src/controller/controller.js';
import { LAB_POOLS } from '../src/api/lab-pools.js';
import { createIpam } from '../src/ipam/index.js';
import { createMemoryStore } from '../src/store/memory-store.js';
import { benchPki } from './lib/bench-pki.js';
import { log, median, round } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, removeNetns, scratchNetns } from './lib/scratch.js';
import { workload } from './lib/workload.js';

interface Options { n: number; scrapes: number; expNs: number; intervalMs: number; slices: number }

function parseArgs(argv: string[]): Options {
  const o: Options = { n: 1000, scrapes: 50, expNs: 4, intervalMs: 2000, slices: 10_000 };
  parseOptions(argv, {
    '--n': (v) => { o.n = v.int(); },
    '--scrapes': (v) => { o.scrapes = v.int(); },
    '--exp-ns': (v) => { o.expNs = v.int(); },
    '--interval-ms': (v) => { o.intervalMs = v.int(); },
    '--slices': (v) => { o.slices = v.int(); },
  });
  return o;
}

const pct = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupOnSignal();
  const dir = mkdtempSync(join(tmpdir(), 'visp-bench-metrics-'));
  const made: string[] = [];
  let core: AgentCore | undefined;
  let close: (() => Promise<void>) | undefined;
  let certs: CertificateFiles | undefined;
  try {
    const node = scratchNetns('node');
    made.push(node);
    const exps = Array.from({ length: o.expNs }, (_, k) => { const ns = scratchNetns(`exp${k}`); made.push(ns); return ns; });
    const pki = await benchPki(join(dir, 'pki'), [{ role: 'node', name: 'bench' }, { role: 'operator-readonly', name: 'prometheus' }]);
    const metrics = new AgentMetrics('bench', 'bench');
    // The bench's experiment namespaces are its own, not visp's: 'any' lets the kernel layer use them.
    core = new AgentCore({ kernel: new NodeKernel({ netns: node, namespaces: 'any', engine: false }), netns: node, name: 'bench', metrics, reconcileIntervalMs: o.intervalMs });
    // Not started yet: no timer, so after the build the agent is idle until start() below.
    const ready = new Promise<void>((resolve) => {
      core!.on('report', (r: Report) => {
        if (r.endpoints.length === o.n && r.endpoints.every((e) => e.state === 'ready')) resolve();
      });
    });
    log(`building ${o.n} endpoints in ${node}…`);
    const t0 = performance.now();
    core.setDesired({ generation: 1, endpoints: workload(o.n, exps).map((s) => ({ ...s, restart: 0 })), teardowns: [] });
    await ready;
    log(`  ready in ${round((performance.now() - t0) / 1000, 1)} s`);

    certs = new CertificateFiles(pki.files('node', 'bench'));
    const server = await startMetricsServer({ listen: '127.0.0.1:0' }, { scrape: () => metrics.scrape(), certs, log: () => undefined });
    close = server.close;
    const client = pki.files('operator-readonly', 'prometheus');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(client.ca), cert: readFileSync(client.cert), key: readFileSync(client.key), checkServerIdentity: () => undefined });
    const [host, port] = server.address.split(':');
    const scrape = (): Promise<{ ms: number; body: string }> => new Promise((resolve, reject) => {
      const t = performance.now();
      const req = request({ host, port: Number(port), path: '/metrics', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t, body }) : reject(new Error(`scrape: ${res.statusCode}: ${body}`))));
      });
      req.on('error', reject);
      req.end();
    });
    await scrape(); // the TLS handshake, once, as a scraper's kept-alive connection has it
    const round1 = async (label: string, gapMs: number): Promise<{ wall: number[]; format: number[]; body: string }> => {
      const wall: number[] = [];
      const format: number[] = [];
      let body = '';
      for (let i = 0; i < o.scrapes; i++) {
        const r = await scrape();
        wall.push(r.ms);
        body = r.body;
        // The part that holds the event loop: the text, after a pass (endpoints() drops the cached per-endpoint text).
        metrics.endpoints([...metrics.endpointSamples()]);
        const t = performance.now();
        await metrics.scrape();
        format.push(performance.now() - t);
        await new Promise((res) => setTimeout(res, gapMs));
      }
      log(`  ${label}: scrape median ${round(median(wall), 2)} ms, p99 ${round(pct(wall, 0.99), 2)} ms, max ${round(Math.max(...wall), 2)} ms; formatting ${round(median(format), 2)} ms`);
      return { wall, format, body };
    };
    const idle = await round1('agent idle', 20);
    core.on('report', () => undefined);
    await core.start();
    // Spread over several passes, so that some scrapes land during one.
    // How long the agent's own work holds the loop meanwhile: what a scrape that lands during a pass waits for.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const busy = await round1(`reconciling every ${o.intervalMs} ms`, Math.round(o.intervalMs / 5));
    loop.disable();
    agent.destroy();
    // The agent stops before the controller's part: its passes must not be what that part's loop measures.
    await close();
    close = undefined;
    await core.close();
    core = undefined;
    const body = busy.body;
    const series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
    const endpointSeries = body.split('\n').filter((l) => l.startsWith('visp_endpoint_transmit_bytes_total{')).length;
    if (endpointSeries !== o.n) throw new Error(`expected ${o.n} endpoints' series, the scrape has ${endpointSeries}`);
    // The passes that ran while the busy scrapes did (the build's first pass excluded).
    const durations = /visp_reconcile_duration_seconds_sum (\S+)\nvisp_reconcile_duration_seconds_count (\S+)/.exec(body);
    const idleDur = /visp_reconcile_duration_seconds_sum (\S+)\nvisp_reconcile_duration_seconds_count (\S+)/.exec(idle.body);
    const passes = durations && idleDur ? Number(durations[2]) - Number(idleDur[2]) : 0;
    const passMean = passes > 0 ? ((Number(durations![1]) - Number(idleDur![1])) / passes) * 1000 : NaN;
    const out = {
      bench: 'metrics', endpoints: o.n, scrapes: o.scrapes, interval_ms: o.intervalMs,
      scrape_ms_median: round(median(idle.wall), 2), scrape_ms_p99: round(pct(idle.wall, 0.99), 2), scrape_ms_max: round(Math.max(...idle.wall), 2),
      scrape_busy_ms_median: round(median(busy.wall), 2), scrape_busy_ms_p99: round(pct(busy.wall, 0.99), 2), scrape_busy_ms_max: round(Math.max(...busy.wall), 2),
      format_ms_median: round(median([...idle.format, ...busy.format]), 2), format_ms_max: round(Math.max(...idle.format, ...busy.format), 2),
      body_bytes: Buffer.byteLength(body), series,
      eventloop_delay_ms_max_busy: round(loop.max / 1e6, 1), eventloop_delay_ms_p99_busy: round(loop.percentile(99) / 1e6, 1),
      reconcile_passes: passes, ...(passes ? { reconcile_pass_ms_mean: round(passMean, 1) } : {}),
      ...(o.n === 1000 ? { scrape_ms_1000: round(median(idle.wall), 2) } : {}),
      ...await controllerScrape(o),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await close?.();
    certs?.close();
    await core?.close();
    for (const ns of made) removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The controller's scrape with o.slices slices in its IPAM: cold (IPAM read) and warm, and the longest loop stall meanwhile. */
async function controllerScrape(o: Options): Promise<Record<string, number>> {
  const store = createMemoryStore();
  const ctl = new Controller({ store, ipam: LAB_POOLS });
  await ctl.start();
  try {
    const other = createIpam({ store });
    log(`controller: allocating ${o.slices} one-link slices…`);
    for (let i = 0; i < o.slices; i++) {
      await other.allocate({ slice: `s${i}`, links: [{ name: 'l', interfaces: [{ name: 'a' }, { name: 'b' }], ipv6: { class: 'local' }, identifier: 'vni' }] });
    }
    let clock = 0;
    const metrics = new ControllerMetrics('bench', [], () => clock);
    metrics.attach(ctl.metricsSources());
    const loop = monitorEventLoopDelay({ resolution: 1 });
    const cold: number[] = [];
    const warm: number[] = [];
    let text = '';
    loop.enable();
    for (let i = 0; i < 10; i++) {
      clock += IPAM_MAX_AGE_MS; // aged out: this scrape reads IPAM again
      let t = performance.now();
      text = await metrics.scrape();
      cold.push(performance.now() - t);
      t = performance.now();
      await metrics.scrape();
      warm.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    loop.disable();
    const live = /visp_ipam_pool_blocks\{pool="lab-local-v6",class="local",family="ipv6",state="live"\} (\d+)/.exec(text)?.[1];
    if (Number(live) !== o.slices) throw new Error(`expected ${o.slices} live blocks in the scrape, it says ${live}`);
    log(`  controller scrape with ${o.slices} slices: ${round(median(cold), 2)} ms reading IPAM, ${round(median(warm), 2)} ms cached; longest loop stall ${round(loop.max / 1e6, 1)} ms`);
    return {
      controller_slices: o.slices, controller_scrape_ms_cold: round(median(cold), 2), controller_scrape_ms_warm: round(median(warm), 2),
      controller_eventloop_delay_ms_max: round(loop.max / 1e6, 1),
    };
  } finally {
    ctl.stop();
    await store.close();
  }
}

main().catch((e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
