// Metrics, scraped by a real Prometheus (Debian's /usr/bin/prometheus on a
// free port of 127.0.0.1): a lab of three nodes serves the controller's and
// every agent's metrics over HTTPS; Prometheus scrapes them all with a
// read-only operator's certificate (tls_config: ca_file, cert_file,
// key_file), and after a slice comes up and carries pings its query API
// returns the series an operator would graph: targets up, tunnel byte
// counters, reconcile passes, RPC counts by method and code, IPAM pool
// utilization, identifiers left. Without a certificate, or with an AM's,
// the endpoints refuse.
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason } from '../helpers/netns.js';
import { Prometheus, prometheusSkipReason, scrapeJob, type Sample } from '../helpers/prometheus.js';
import { Lab, p2p, pingNeighbours, waitFor, type Manifest } from './support.js';

const skip = kernelSkipReason ?? prometheusSkipReason;

/** GET https://address/metrics with these client files (or none): the status and body. */
function get(address: string, ca: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    const req = request({
      host, port, path: '/metrics', ca: readFileSync(ca),
      ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
    }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skip)('metrics: a real Prometheus scrapes the controller and every agent of a lab', () => {
  const lab = new Lab('pm', ['n1', 'n2', 'n3'], { metrics: true });
  const prom = new Prometheus();
  let slice: string;
  let m: Manifest;
  const one = async (expr: string): Promise<Sample[]> => prom.query(expr);
  const value = (s: Sample | undefined): number => Number(s?.value[1] ?? NaN);

  beforeAll(async () => {
    await lab.start();
    slice = lab.slice('tri');
    const tls = lab.pki.readonly;
    const agents = [...lab.metrics()].map(([node, address]) => ({ address, labels: { node } }));
    expect(agents).toHaveLength(3);
    await prom.start(`global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrapeJob({ job: 'visp-controller', tls, targets: [{ address: lab.ctl!.metrics! }] })}${scrapeJob({ job: 'visp-agent', tls, targets: agents })}`);
  }, 60_000);
  afterAll(async () => {
    await prom.stop();
    await lab.close();
  });

  it('the endpoints refuse a scraper without a certificate, and an AM\'s', async () => {
    const ca = lab.pki.readonly.ca;
    for (const address of [lab.ctl!.metrics!, ...lab.metrics().values()]) {
      expect((await get(address, ca)).status, address).toBe(401);
      expect((await get(address, ca, lab.pki.am)).status, address).toBe(403);
      const ok = await get(address, ca, lab.pki.readonly);
      expect(ok.status, address).toBe(200);
      expect(ok.body).toMatch(/^# HELP /m);
    }
  });

  it('a slice comes up and carries traffic', async () => {
    const topology = { nodes: [1, 2, 3].map((i) => ({ id: `r${i}`, node: `n${i}` })), links: [p2p('r1r2', 'r1', 'r2'), p2p('r2r3', 'r2', 'r3'), p2p('r3r1', 'r3', 'r1')] };
    await lab.api.links.allocate({ slice, topology });
    await lab.api.links.provision({ slice });
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it('Prometheus has every target up', async () => {
    await waitFor('every target up', async () => (await prom.targets()).length === 4 && (await prom.targets()).every((t) => t.health === 'up'), 20_000, 250)
      .catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(await prom.targets())}\n${prom.log.slice(-10).join('\n')}`); });
    const up = await one('up');
    expect(up.map((s) => `${s.metric.job}/${s.metric.node ?? ''}=${s.value[1]}`).sort()).toEqual(['visp-agent/n1=1', 'visp-agent/n2=1', 'visp-agent/n3=1', 'visp-controller/=1']);
  });

  it('its queries return the tunnels\' byte counters, per endpoint, growing with the pings', async () => {
    const q = `visp_endpoint_transmit_bytes_total{slice="${slice}"}`;
    await waitFor('6 endpoints with bytes sent', async () => (await one(`${q} > 0`)).length === 6, 20_000, 500);
    const series = await one(q);
    expect(series.map((s) => `${s.metric.node}:${s.metric.link}`).sort()).toEqual(['n1:r1r2', 'n1:r3r1', 'n2:r1r2', 'n2:r2r3', 'n3:r2r3', 'n3:r3r1']);
    expect((await one(`visp_endpoint_receive_bytes_total{slice="${slice}"} > 0`)).length).toBe(6);
    expect((await one(`visp_endpoint_receive_packets_total{slice="${slice}"} > 0`)).length).toBe(6);
    expect(await one(`visp_endpoint_receive_drop_total{slice="${slice}"}`)).toHaveLength(6);
    const info = await one(`visp_endpoint_info{slice="${slice}"}`);
    expect(new Set(info.map((s) => `${s.metric.state}/${s.metric.kind}/${s.metric.dataplane}`))).toEqual(new Set(['ready/vxlan/kernel']));
    // More traffic: the counter Prometheus sees grows.
    const before = value((await one(`sum(${q})`))[0]);
    expect(await pingNeighbours(m)).toEqual([]);
    await waitFor('the byte counters to grow', async () => value((await one(`sum(${q})`))[0]) > before, 15_000, 500);
  });

  it('reconcile passes, builds and durations per node', async () => {
    const passes = await one('visp_reconcile_passes_total{result="ok"} > 0');
    expect(passes.map((s) => s.metric.node).sort()).toEqual(['n1', 'n2', 'n3']);
    const builds = await one('visp_reconcile_builds_total > 0');
    expect(builds.map((s) => s.metric.node).sort()).toEqual(['n1', 'n2', 'n3']);
    expect((await one('visp_reconcile_duration_seconds_count > 0')).length).toBe(3);
    expect((await one('visp_endpoints{state="ready"}')).map((s) => value(s))).toEqual([2, 2, 2]);
  });

  it('the controller\'s RPCs by method and code, with latency; agents connected', async () => {
    await waitFor('Provision counted', async () => (await one('visp_rpc_requests_total{method="Links.Provision",code="OK"}')).length === 1, 10_000, 500);
    expect(value((await one('visp_rpc_requests_total{method="Links.Allocate",code="OK"}'))[0])).toBe(1);
    expect(value((await one('visp_rpc_requests_total{method="Links.Status",code="OK"}'))[0])).toBeGreaterThan(0);
    expect(value((await one('visp_rpc_duration_seconds_count{method="Links.Allocate"}'))[0])).toBe(1);
    expect(value((await one('visp_rpc_requests_total{method="Agent.Connect",code="OK"}'))[0])).toBe(3);
    expect(value((await one('visp_agents_connected'))[0])).toBe(3);
    // A refused call is counted with its code.
    await lab.api.links.status({ slice: 'no-such-slice' }).catch(() => undefined);
    await waitFor('a NOT_FOUND counted', async () => (await one('visp_rpc_requests_total{method="Links.Status",code="NOT_FOUND"}')).length === 1, 10_000, 500);
  });

  it('IPAM: the pools\' utilization by pool and class, and identifiers left', async () => {
    await waitFor('the slice\'s blocks in the pools', async () => (await one('visp_ipam_pool_blocks{state="live"} > 0')).length === 2, 15_000, 500);
    const used = await one('visp_ipam_pool_utilization_ratio > 0');
    expect(used.map((s) => `${s.metric.class}/${s.metric.family}`).sort()).toEqual(['local/ipv4', 'local/ipv6']);
    for (const s of used) expect(value(s)).toBeLessThan(1);
    const vni = await one('visp_ipam_identifiers{kind="vni"} - visp_ipam_identifiers_free{kind="vni"}');
    // Three links, one VNI each.
    expect(value(vni[0])).toBe(3);
  });
});
