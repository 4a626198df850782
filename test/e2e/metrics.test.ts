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
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdConfig } from '../../src/lab/providers.js';
import { Bird, bgpSkipReason, vethBetween } from '../bgp/fixtures.js';
import { delNetns, ipIn, kernelSkipReason, makeNetns } from '../helpers/netns.js';
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

// The egress node's BGP series: one BIRD 2 provider (as in egress.test.ts),
// an IPv4 and an IPv6 session, a slice announced through them.
const PROV = { name: 'A', asn: 64501, ours: ['198.18.1.1', '2001:db8:ff01::1'], theirs: ['198.18.1.2', '2001:db8:ff01::2'], host: ['198.51.100.10', '2001:db8:f0a::10'] } as const;
const ASN = 64500;

describe.skipIf(skip ?? bgpSkipReason)('metrics: BGP sessions and per-slice prefixes of an egress node, through Prometheus', () => {
  const lab = new Lab('pb', ['r1', 'egr'], { metrics: true });
  const prom = new Prometheus();
  const dir = mkdtempSync(join(tmpdir(), 'visp-prom-bgp-'));
  let bird: Bird | undefined;
  let provider = '';
  let slice: string;

  beforeAll(async () => {
    await lab.start();
    const egr = lab.node('egr').ns;
    const ns = provider = makeNetns('pbprova');
    vethBetween(egr, 'up0', [`${PROV.ours[0]}/30`, `${PROV.ours[1]}/64`], ns, 'eg0', [`${PROV.theirs[0]}/30`, `${PROV.theirs[1]}/64`]);
    ipIn(ns, 'addr', 'add', `${PROV.host[0]}/32`, 'dev', 'lo');
    ipIn(ns, '-6', 'addr', 'add', `${PROV.host[1]}/128`, 'dev', 'lo');
    bird = new Bird(ns, dir, PROV.name, birdConfig({
      name: PROV.name, asn: PROV.asn, egressNode: 'egr', egressAsn: ASN, netns: '', config: '', control: '',
      ours: { ipv4: PROV.ours[0], ipv6: PROV.ours[1], dev: '' }, theirs: { ipv4: PROV.theirs[0], ipv6: PROV.theirs[1] }, host: { ipv4: PROV.host[0], ipv6: PROV.host[1] },
    }));
    await lab.api.operator.setEgressNode({
      config: {
        node: 'egr', asn: ASN, routerId: PROV.ours[0],
        providers: [
          { address: PROV.theirs[0], asn: PROV.asn, families: ['ipv4'], maxPrefixes: 50 },
          { address: PROV.theirs[1], asn: PROV.asn, families: ['ipv6'], maxPrefixes: 50 },
        ],
      },
    });
    await waitFor('the provider established', () => bird!.established('egress4', 'egress6'), 30_000, 200);
    slice = lab.slice('out');
    await lab.api.links.allocate({ slice, topology: { nodes: [{ id: 'r', node: 'r1' }], links: [{
      id: 'up', members: [{ node: 'r' }], encapsulation: 'ENCAPSULATION_VXLAN', ipv4: { enabled: true }, ipv6: { enabled: true }, egress: { node: 'egr', routes: 'EGRESS_ROUTES_FULL' },
    }] } });
    await lab.api.links.provision({ slice });
    await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    await prom.start(`global:\n  scrape_interval: 1s\nscrape_configs:\n${scrapeJob({ job: 'visp-agent', tls: lab.pki.readonly, targets: [{ address: lab.metrics().get('egr')!, labels: { node: 'egr' } }] })}`);
  }, 90_000);
  afterAll(async () => {
    await prom.stop();
    await bird?.stop();
    await lab.close();
    if (provider) delNetns(provider);
    rmSync(dir, { recursive: true, force: true });
  });

  it('two sessions established, the slice\'s two blocks announced, the provider\'s routes received', async () => {
    const value = async (expr: string): Promise<number> => Number((await prom.query(expr))[0]?.value[1] ?? NaN);
    await waitFor('the BGP series', async () => (await value('visp_bgp_sessions{state="established"}')) === 2
      && (await value(`visp_bgp_slice_prefixes_announced{slice="${slice}"}`)) === 2
      && (await value(`visp_bgp_slice_prefixes_received{slice="${slice}"}`)) > 0, 30_000, 500)
      .catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(await prom.query('{__name__=~"visp_bgp_.*"}'))}`); });
    const peers = await prom.query('visp_bgp_peer_up');
    expect(peers.map((s) => `${s.metric.peer} AS${s.metric.peer_asn}=${s.value[1]}`).sort()).toEqual([`${PROV.theirs[0]} AS64501=1`, `${PROV.theirs[1]} AS64501=1`]);
    expect((await prom.query('visp_bgp_peer_prefixes_received > 0')).length).toBe(2);
    expect((await prom.query('visp_bgp_peer_prefixes_advertised > 0')).length).toBe(2);
  });
});
