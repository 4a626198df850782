// The metrics' own rules, without a kernel or a server: the per-endpoint text
// is valid exposition (escaped, one series per endpoint, the cap folds the
// rest into _other), health and BGP series appear only once fed and go when
// their endpoint goes, passes are counted, and the controller reads IPAM at
// most once per IPAM_MAX_AGE_MS however many scrapes and gauges ask.
import { describe, expect, it } from 'vitest';
import { AgentMetrics, endpointFamilies, MAX_ENDPOINT_SERIES, OTHER, type EndpointSample } from './agent.js';
import { ControllerMetrics, IPAM_MAX_AGE_MS } from './controller.js';

const ep = (i: number, over: Partial<EndpointSample> = {}): EndpointSample => ({
  slice: 's', link: `l${i}`, kind: 'vxlan', state: 'ready', rxBytes: i, txBytes: 2 * i, rxPackets: 1, txPackets: 1, rxDropped: 0, txDropped: 0, ...over,
});
const series = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('agent metrics', () => {
  it('one series per endpoint and family, values as kept, label values escaped', () => {
    const text = endpointFamilies([ep(1), ep(2, { slice: 'a"b\\c\nd', dataplane: 'userspace' })]);
    expect(series(text, 'visp_endpoint_transmit_bytes_total')).toEqual([
      'visp_endpoint_transmit_bytes_total{slice="s",link="l1"} 2',
      'visp_endpoint_transmit_bytes_total{slice="a\\"b\\\\c\\nd",link="l2"} 4',
    ]);
    expect(series(text, 'visp_endpoint_info')[1]).toBe('visp_endpoint_info{slice="a\\"b\\\\c\\nd",link="l2",state="ready",kind="vxlan",dataplane="userspace"} 1');
    expect(text).toMatch(/^# TYPE visp_endpoint_receive_drop_total counter$/m);
  });

  it(`past ${MAX_ENDPOINT_SERIES} endpoints the rest are summed into slice="${OTHER}"`, async () => {
    const m = new AgentMetrics('n1', 'v');
    m.endpoints(Array.from({ length: MAX_ENDPOINT_SERIES + 3 }, (_, i) => ep(i)));
    const text = await m.scrape();
    const tx = series(text, 'visp_endpoint_transmit_bytes_total');
    expect(tx).toHaveLength(MAX_ENDPOINT_SERIES + 1);
    const n = MAX_ENDPOINT_SERIES;
    expect(tx.at(-1)).toBe(`visp_endpoint_transmit_bytes_total{slice="${OTHER}",link="${OTHER}"} ${2 * (n + n + 1 + n + 2)}`);
    // No info series for the folded rest; the state count counts every endpoint.
    expect(series(text, 'visp_endpoint_info')).toHaveLength(MAX_ENDPOINT_SERIES);
    expect(series(text, 'visp_endpoints')).toEqual([`visp_endpoints{state="ready"} ${n + 3}`]);
  });

  it(`link health has series for the same ${MAX_ENDPOINT_SERIES} endpoints and none for the folded rest`, async () => {
    const m = new AgentMetrics('n1', 'v');
    const n = MAX_ENDPOINT_SERIES + 3;
    m.endpoints(Array.from({ length: n }, (_, i) => ep(i)));
    for (let i = 0; i < n; i++) m.linkHealth('s', `l${i}`, [{ remote: 'n2', alive: true, loss: 0 }]);
    const up = series(await m.scrape(), 'visp_link_health_up');
    expect(up).toHaveLength(MAX_ENDPOINT_SERIES);
    expect(up.at(-1)).toBe(`visp_link_health_up{slice="s",link="l${MAX_ENDPOINT_SERIES - 1}",remote="n2"} 1`);
  });

  it('health series only once fed (and decided), gone with their endpoint', async () => {
    const m = new AgentMetrics('n1', 'v');
    m.endpoints([ep(1), ep(2)]);
    expect(series(await m.scrape(), 'visp_link_health_up')).toEqual([]);
    m.linkHealth('s', 'l1', [{ remote: 'n2', alive: true, rttP50Ms: 0.25, rttP99Ms: 1.5, loss: 0.1 }, { remote: 'n3', alive: undefined, loss: 0 }]);
    let text = await m.scrape();
    expect(series(text, 'visp_link_health_up')).toEqual(['visp_link_health_up{slice="s",link="l1",remote="n2"} 1']);
    expect(series(text, 'visp_link_rtt_seconds')).toEqual([
      'visp_link_rtt_seconds{slice="s",link="l1",remote="n2",quantile="0.5"} 0.00025',
      'visp_link_rtt_seconds{slice="s",link="l1",remote="n2",quantile="0.99"} 0.0015',
    ]);
    expect(series(text, 'visp_link_probe_loss_ratio')).toEqual(['visp_link_probe_loss_ratio{slice="s",link="l1",remote="n2"} 0.1']);
    m.endpoints([ep(2)]);
    text = await m.scrape();
    expect(series(text, 'visp_link_health_up')).toEqual([]);
    expect(series(text, 'visp_link_rtt_seconds')).toEqual([]);
  });

  it('passes, builds, repairs, failed steps; an abandoned pass counts as an error and nothing else', async () => {
    const m = new AgentMetrics('n1', 'v');
    m.pass({ seconds: 0.02, builds: 5, repairs: 0, failedSteps: 0 });
    m.pass({ seconds: 0.01, builds: 0, repairs: 2, failedSteps: 1 });
    m.pass({ seconds: 0, error: true, builds: 9, repairs: 9, failedSteps: 9 });
    const text = await m.scrape();
    expect(series(text, 'visp_reconcile_passes_total')).toEqual(['visp_reconcile_passes_total{result="ok"} 2', 'visp_reconcile_passes_total{result="error"} 1']);
    expect(series(text, 'visp_reconcile_builds_total')).toEqual(['visp_reconcile_builds_total 5']);
    expect(series(text, 'visp_reconcile_repairs_total')).toEqual(['visp_reconcile_repairs_total 2']);
    expect(series(text, 'visp_reconcile_failed_steps_total')).toEqual(['visp_reconcile_failed_steps_total 1']);
    expect(series(text, 'visp_reconcile_duration_seconds_count')).toEqual(['visp_reconcile_duration_seconds_count 3']);
  });

  it('BGP: sessions by state, per peer and per slice; none on a node that is not an egress node', async () => {
    const m = new AgentMetrics('n1', 'v');
    expect(series(await m.scrape(), 'visp_bgp_sessions')).toEqual([]);
    m.bgp({
      peers: [
        { address: '198.18.1.2', asn: 64501, state: 'established', received: 3, accepted: 2, advertised: 1 },
        { address: '2001:db8:ff01::2', asn: 64501, state: 'active', received: 0, accepted: 0, advertised: 0 },
      ],
      slices: [{ slice: 's', announced: 2, received: 3 }],
    });
    const text = await m.scrape();
    expect(series(text, 'visp_bgp_sessions').sort()).toEqual(['visp_bgp_sessions{state="active"} 1', 'visp_bgp_sessions{state="established"} 1']);
    expect(series(text, 'visp_bgp_peer_up')).toEqual(['visp_bgp_peer_up{peer="198.18.1.2",peer_asn="64501"} 1', 'visp_bgp_peer_up{peer="2001:db8:ff01::2",peer_asn="64501"} 0']);
    expect(series(text, 'visp_bgp_slice_prefixes_received')).toEqual(['visp_bgp_slice_prefixes_received{slice="s"} 3']);
    m.bgp(undefined);
    expect(series(await m.scrape(), 'visp_bgp_peer_up')).toEqual([]);
  });
});

describe('controller metrics', () => {
  it('calls by method and code, with latency; every method has its OK series from the start', async () => {
    const m = new ControllerMetrics('v', ['Links.Allocate', 'Links.Status']);
    m.call('Links.Status', 'OK', 0.002);
    m.call('Links.Status', 'NOT_FOUND', 0.001);
    const text = await m.scrape();
    expect(series(text, 'visp_rpc_requests_total')).toEqual([
      'visp_rpc_requests_total{method="Links.Allocate",code="OK"} 0',
      'visp_rpc_requests_total{method="Links.Status",code="OK"} 1',
      'visp_rpc_requests_total{method="Links.Status",code="NOT_FOUND"} 1',
    ]);
    expect(series(text, 'visp_rpc_duration_seconds_count')).toEqual(['visp_rpc_duration_seconds_count{method="Links.Allocate"} 0', 'visp_rpc_duration_seconds_count{method="Links.Status"} 2']);
  });

  it(`IPAM is read once per ${IPAM_MAX_AGE_MS} ms, however many gauges and scrapes ask; a failed read keeps the last figures`, async () => {
    let clock = 1_000_000;
    const m = new ControllerMetrics('v', [], () => clock);
    let reads = 0;
    let fail = false;
    m.attach({
      nodes: () => ({ known: 3, connected: 2 }),
      slices: () => 1,
      ipam: async () => {
        reads++;
        if (fail) throw new Error('store busy');
        return { pools: [{ pool: 'lab-v4', class: 'local', family: 'ipv4', size: 256, free: 192, liveBlocks: 2, coolingBlocks: 0 }], identifiers: [{ kind: 'vni', size: 100, free: 97 }] };
      },
    });
    const [a] = await Promise.all([m.scrape(), m.scrape()]);
    await m.scrape();
    expect(reads).toBe(1);
    expect(series(a, 'visp_ipam_pool_utilization_ratio')).toEqual(['visp_ipam_pool_utilization_ratio{pool="lab-v4",class="local",family="ipv4"} 0.25']);
    expect(series(a, 'visp_ipam_identifiers_free')).toEqual(['visp_ipam_identifiers_free{kind="vni"} 97']);
    expect(series(a, 'visp_agents_connected')).toEqual(['visp_agents_connected 2']);
    // Aged out: read again; the read fails: the last figures stay.
    clock += IPAM_MAX_AGE_MS;
    fail = true;
    const b = await m.scrape();
    expect(reads).toBe(2);
    expect(series(b, 'visp_ipam_pool_blocks')).toContain('visp_ipam_pool_blocks{pool="lab-v4",class="local",family="ipv4",state="live"} 2');
  });
});
