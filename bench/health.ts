// npm run bench -- health [--cuts 10] [--endpoints 1000] [--seconds 10]
//
// Link health (src/health, docs/operations.md "Link health"), in two parts.
//
// 1. Detection and recovery, end to end: a lab of two nodes (controller and
//    agents as their own processes, bench/lib/lab-env.ts) with one VXLAN link
//    between them, probed at the agents' default rate. `cuts` times: n1's
//    port on the hub switch goes down (the underlay is cut; nothing on
//    either node changes), and the time until the operator's ListTunnels
//    shows both ends `down` is the detection; the port comes back up, and
//    the time until both are `ready` again is the recovery. Polled every
//    20 ms over the API, so what is measured includes the agent's report and
//    the controller.
// 2. What probing costs: two node namespaces, `endpoints` VXLAN devices
//    each (one per link, a VNI each, no bridges or experiments: what probing
//    touches is the tunnel device), probed by two HealthProbers in this
//    process at the default rate, each probing its endpoints and answering
//    the other's. The CPU this process uses over `seconds` (user + system;
//    the probes' kernel path runs in it) is the cost of both nodes' probing
//    for `endpoints` endpoints each, so per node and 1,000 endpoints it is
//    half of that, scaled. The whole machine's busy time over the same span
//    is printed beside it.
//
// 3. scrape_ms_1000: an agent's metrics (src/metrics/agent.ts) holding the
//    1,000 endpoints of part 2 with their link health (the prober's pairs:
//    up, RTT by quantile, loss), served over HTTPS with a node certificate
//    (src/api/metrics-server.ts) and scraped 30 times over one kept-alive
//    connection with a read-only operator's certificate, as Prometheus does;
//    the median wall time. (npm run bench -- metrics measures the scrape of a
//    whole agent core in more ways.)
//
// Progress goes to stderr; the last stdout line is JSON.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMetricsServer } from '../src/api/metrics-server.js';
import { CertificateFiles } from '../src/api/tls.js';
import { HealthProber, DEFAULT_HEALTH, type ProbeTarget } from '../src/health/prober.js';
import { AgentMetrics } from '../src/metrics/agent.js';
import { benchPki } from './lib/bench-pki.js';
import { cleanupLabsOnSignal, Lab } from './lib/lab-env.js';
import { cpuBusySeconds, log, median, round } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, ipIn, removeNetns, scratchNetns, sh } from './lib/scratch.js';
import { setTimeout as sleep } from 'node:timers/promises';

interface Options { cuts: number; endpoints: number; seconds: number; trace: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { cuts: 10, endpoints: 1000, seconds: 10, trace: false };
  parseOptions(argv, {
    '--cuts': (v) => { o.cuts = v.int(); },
    '--endpoints': (v) => { o.endpoints = v.int(); },
    '--seconds': (v) => { o.seconds = v.int(2); },
    // The agents trace their passes and stalls, and the lab's logs are kept (to see where a slow detection went).
    '--trace': () => { o.trace = true; },
  });
  return o;
}

/** Seconds from `t0` (default: now) until `ok` holds. */
async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs: number, everyMs = 20, t0 = performance.now()): Promise<number> {
  for (;;) {
    if (await ok()) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function detection(o: Options): Promise<{ detect: number[]; recover: number[] }> {
  const lab = new Lab(2);
  try {
    await lab.startController();
    await lab.startAgents({ trace: o.trace });
    lab.keepLogs = o.trace;
    const slice = 'health';
    const netns = (i: number): string => `vb-health-${process.pid}-r${i}`;
    for (const i of [0, 1]) lab.expNamespaces.add(netns(i));
    await lab.api.links.allocate({
      slice, topology: {
        nodes: [0, 1].map((i) => ({ id: `r${i}`, node: `n${i}`, netns: netns(i) })),
        links: [{ id: 'l', members: [{ node: 'r0' }, { node: 'r1' }], encapsulation: 'ENCAPSULATION_VXLAN', addressClass: 'ADDRESS_CLASS_LOCAL', ipv4: { enabled: true } }],
      },
    });
    await lab.api.links.provision({ slice });
    const ends = async () => (await lab.operatorApi.operator.listTunnels({ slice })).tunnels;
    const all = (state: string) => async () => { const ts = await ends(); return ts.length === 2 && ts.every((t) => t.state === state); };
    await waitUntil('the link ready', all('OPERATIONAL_STATE_READY'), 60_000, 100);
    await waitUntil('both ends answering', async () => (await ends()).every((t) => t.health.length === 1 && t.health[0]!.state === 'OPERATIONAL_STATE_READY'), 20_000, 100);
    const detect: number[] = [], recover: number[] = [];
    for (let i = 0; i < o.cuts; i++) {
      // Timed from before the command that cuts (or repairs): a machine busy enough to delay `ip` delays the cut too.
      const cutAt = new Date(), t0 = performance.now();
      ipIn(lab.underlay.hub, 'link', 'set', 'p1', 'down');
      let why = '', t1 = 0;
      try {
        detect.push(await waitUntil('down', all('OPERATIONAL_STATE_DOWN'), 15_000, 20, t0));
        why = (await ends()).map((t) => `${t.node}: ${t.error}`).join('; ');
      } finally {
        t1 = performance.now();
        ipIn(lab.underlay.hub, 'link', 'set', 'p1', 'up');
      }
      recover.push(await waitUntil('ready', all('OPERATIONAL_STATE_READY'), 15_000, 20, t1));
      log(`  cut ${i + 1} at ${cutAt.toISOString().slice(11, 23)}: down after ${detect.at(-1)!.toFixed(2)} s (${why}), ready after ${recover.at(-1)!.toFixed(2)} s`);
      await sleep(500 + Math.random() * 500); // a cut at a random point of the probe interval
    }
    return { detect, recover };
  } finally {
    await lab.close();
  }
}

/** Median wall time of 30 scrapes of an agent's metrics with these endpoints' health, over HTTPS (kept alive). */
async function scrapeMs(prober: HealthProber, n: number): Promise<{ ms: number; healthSeries: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'visp-bench-health-'));
  let close: (() => Promise<void>) | undefined;
  try {
    const pki = await benchPki(join(dir, 'pki'), [{ role: 'node', name: 'n1' }, { role: 'operator-readonly', name: 'prometheus' }]);
    const metrics = new AgentMetrics('n1', 'bench');
    metrics.endpoints(Array.from({ length: n }, (_, i) => ({
      slice: 'bench', link: `l${i}`, kind: 'vxlan', state: 'ready', dataplane: 'kernel', rxBytes: 1e6, txBytes: 1e6, rxPackets: 1e3, txPackets: 1e3, rxDropped: 0, txDropped: 0,
    })));
    for (let i = 0; i < n; i++) metrics.linkHealth('bench', `l${i}`, prober.health(`bench/l${i}`)?.pairs);
    const server = await startMetricsServer({ listen: '127.0.0.1:0' }, { scrape: () => metrics.scrape(), certs: new CertificateFiles(pki.files('node', 'n1')), log: () => undefined });
    close = server.close;
    const c = pki.files('operator-readonly', 'prometheus');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key), checkServerIdentity: () => undefined });
    const [host, port] = server.address.split(':');
    const scrape = (): Promise<{ ms: number; body: string }> => new Promise((resolve, reject) => {
      const t = performance.now();
      request({ host, port: Number(port), path: '/metrics', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t, body }) : reject(new Error(`scrape: ${res.statusCode}`))));
      }).on('error', reject).end();
    });
    await scrape(); // the handshake, once
    const times: number[] = [];
    let body = '';
    for (let i = 0; i < 30; i++) { const r = await scrape(); times.push(r.ms); body = r.body; await sleep(20); }
    agent.destroy();
    return { ms: median(times), healthSeries: body.split('\n').filter((l) => l.startsWith('visp_link_health_up{')).length };
  } finally {
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function cost(o: Options): Promise<{ cores: number; machineCores: number; pairsUp: number; p50: number; scrapeMs: number; healthSeries: number }> {
  const a = scratchNetns('hla'), b = scratchNetns('hlb');
  const probers: HealthProber[] = [];
  try {
    ipIn(a, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b);
    for (const [ns, n] of [[a, 1], [b, 2]] as const) {
      ipIn(ns, 'addr', 'add', `198.18.0.${n}/24`, 'dev', 'ul0');
      ipIn(ns, 'link', 'set', 'ul0', 'up');
      const lines: string[] = [];
      for (let i = 0; i < o.endpoints; i++) {
        lines.push(`link add vtb${i} type vxlan id ${i + 1} local 198.18.0.${n} remote 198.18.0.${3 - n} dstport 4789 nolearning`, `link set vtb${i} up`);
      }
      sh('ip', ['-n', ns, '-batch', '-'], `${lines.join('\n')}\n`);
    }
    const targets = (n: number): ProbeTarget[] => Array.from({ length: o.endpoints }, (_, i) => ({
      key: `bench/l${i}`, local: `198.18.0.${n}`, what: `vxlan VNI ${i + 1}`, pairs: [{ remote: `198.18.0.${3 - n}`, device: `vtb${i}` }],
    }));
    for (const [ns, n] of [[a, 1], [b, 2]] as const) {
      const p = new HealthProber({ netns: ns });
      p.on('error', (e) => log(`  prober: ${e.message}`));
      probers.push(p);
      await p.setTargets(targets(n));
    }
    const up = (): number => probers.reduce((s, p) => s + Array.from({ length: o.endpoints }, (_, i) => p.health(`bench/l${i}`)?.pairs[0]?.alive ? 1 : 0).reduce((x: number, y) => x + y, 0), 0);
    await waitUntil(`all ${2 * o.endpoints} pairs answering`, async () => up() === 2 * o.endpoints, 30_000, 200);
    await sleep(2000);
    const c0 = process.cpuUsage(), m0 = cpuBusySeconds(), t0 = performance.now();
    await sleep(o.seconds * 1000);
    const c1 = process.cpuUsage(c0), m1 = cpuBusySeconds(), wall = (performance.now() - t0) / 1000;
    const cores = (c1.user + c1.system) / 1e6 / wall;
    const p50s = Array.from({ length: o.endpoints }, (_, i) => probers[0]!.health(`bench/l${i}`)?.pairs[0]?.rttP50Ms ?? NaN).filter(Number.isFinite);
    const pairsUp = up();
    const s = await scrapeMs(probers[0]!, o.endpoints);
    return { cores, machineCores: (m1 - m0) / wall, pairsUp, p50: median(p50s), scrapeMs: s.ms, healthSeries: s.healthSeries };
  } finally {
    for (const p of probers) p.close();
    removeNetns(a);
    removeNetns(b);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupOnSignal();
  cleanupLabsOnSignal();
  log(`health: ${o.cuts} underlay cuts on a two-node lab (probe every ${DEFAULT_HEALTH.intervalMs} ms, down after ${DEFAULT_HEALTH.downAfterMs} ms without an answer)`);
  const d = await detection(o);
  log(`health: probing ${o.endpoints} endpoints on each of two nodes for ${o.seconds} s`);
  const c = await cost(o);
  const per1000 = (c.cores / 2) * (1000 / o.endpoints);
  log(`  ${c.pairsUp} pairs answering, median p50 RTT ${c.p50.toFixed(3)} ms; this process ${c.cores.toFixed(3)} cores for both nodes, the whole machine ${c.machineCores.toFixed(3)} cores busy`);
  log(`  an agent's metrics with those ${o.endpoints} endpoints (${c.healthSeries} visp_link_health_up series): scrape median ${c.scrapeMs.toFixed(2)} ms`);
  console.log(JSON.stringify({
    cuts: o.cuts, interval_ms: DEFAULT_HEALTH.intervalMs, down_after_ms: DEFAULT_HEALTH.downAfterMs,
    detect_s_median: round(median(d.detect), 2), detect_s_max: round(Math.max(...d.detect), 2),
    recover_s_median: round(median(d.recover), 2), recover_s_max: round(Math.max(...d.recover), 2),
    endpoints: o.endpoints, probe_cpu_cores_per_1000: round(per1000, 4), machine_busy_cores_while_probing: round(c.machineCores, 3),
    probe_rtt_p50_ms_median: round(c.p50, 3),
    scrape_ms_1000: o.endpoints === 1000 ? round(c.scrapeMs, 2) : null, scrape_ms: round(c.scrapeMs, 2),
  }));
}

main().catch((e: Error) => { console.error(e.stack ?? e.message); process.exit(1); });
