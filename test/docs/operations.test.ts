// docs/operations.md cannot drift: its colour table is the renderer's, its
// controller config parses, its `visp graph` lines are flags the command
// takes, its link health commands run as written on a lab (and show what the
// page says they show, also with an underlay cut), and its browser-certificate commands, run as written (the CA
// directory pointed at a test CA), make a PKCS#12 file that a real
// Chromium presents to the controller's page and gets in with. Its metrics
// tables are exactly the families the daemons export, its configs parse,
// and its Prometheus certificate commands and scrape config, run as written
// (names pointed at a test controller and two agents), have a real
// Prometheus scrape all three; its log fields are the records' and its jq
// line finds a Provision's records in the controller's and an agent's log.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { parse } from '../../src/cli/args.js';
import { GRAPH } from '../../src/cli/graph.js';
import { parseControllerConfig } from '../../src/config/controller.js';
import { ConfigFile } from '../../src/config/reader.js';
import { agentOptions, parseAgentConfig } from '../../src/config/agent.js';
import { logTo, processLogger, withRequest, type LogFn } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent.js';
import { ControllerMetrics } from '../../src/metrics/controller.js';
import { STATE_COLOURS } from '../../src/graph/view.js';
import { browserSkipReason, launchChromium } from '../helpers/browser.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';
import { ipIn, kernelSkipReason } from '../helpers/netns.js';
import { Prometheus, prometheusSkipReason } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';
import { Lab, p2p } from '../e2e/support.js';
import { tableAfter } from './markdown.js';
import { REPO } from './sandbox.js';

const DOC = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
const blocks = (lang: string): string[] => [...DOC.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1]!);
const ENTRY = fileURLToPath(new URL('./visp-entry.ts', import.meta.url));
const TSX = join(REPO, 'node_modules/tsx/dist/loader.mjs');

describe('docs/operations.md matches the code', () => {
  it('the colour table is STATE_COLOURS, state for state', () => {
    const [, ...rows] = tableAfter(DOC, 'The picture: `visp graph SLICE`');
    const fromDoc: Record<string, string> = {};
    for (const r of rows) for (const s of r[0]!.match(/`[a-z]+`/g)!) fromDoc[s.replace(/`/g, '')] = /`(#[0-9a-f]{6})`/.exec(r[1]!)![1]!;
    expect(fromDoc).toEqual(STATE_COLOURS);
  });

  it('its controller config parses, with the web page', () => {
    const yaml = blocks('yaml').filter((b) => b.startsWith('# /etc/visp/controller.yaml: the controller with its web page'));
    expect(yaml).toHaveLength(1);
    const c = parseControllerConfig(new ConfigFile('docs/operations.md', yaml[0]!));
    expect(c.web).toEqual({ listen: '0.0.0.0:7444' });
  });

  it('its metrics configs parse: the controller\'s and an agent\'s', () => {
    const block = (first: string): string => blocks('yaml').find((b) => b.startsWith(first))!;
    expect(parseControllerConfig(new ConfigFile('docs/operations.md', block('# /etc/visp/controller.yaml: the controller with its metrics'))).metrics).toEqual({ listen: '0.0.0.0:9464' });
    const a = parseAgentConfig(new ConfigFile('docs/operations.md', block('# /etc/visp/agent.yaml: an agent with its metrics')));
    expect(agentOptions(a, {}).metrics).toEqual({ listen: '0.0.0.0:9465' });
  });

  it('the metrics tables are exactly the families each daemon exports, with their types and labels', async () => {
    const families = (text: string): Record<string, string> => Object.fromEntries([...text.matchAll(/^# TYPE (visp_\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const fromDoc = (heading: string): Record<string, string> =>
      Object.fromEntries(tableAfter(DOC, heading).slice(1).map((r) => [r[0]!.replace(/`/g, ''), r[1]!]));
    expect(fromDoc("The controller's metrics")).toEqual(families(await new ControllerMetrics('v').scrape()));
    expect(fromDoc("An agent's metrics")).toEqual(families(await new AgentMetrics('n1', 'v').scrape()));
    // Labels, as the tables say: from a controller that has counted a call, an agent with an endpoint, health and BGP fed.
    const c = new ControllerMetrics('v', ['Links.Allocate']);
    c.attach({ nodes: () => ({ known: 1, connected: 1 }), slices: () => 1, ipam: async () => ({ pools: [{ pool: 'p', class: 'local', family: 'ipv4', size: 256, free: 128, liveBlocks: 1, coolingBlocks: 0 }], identifiers: [{ kind: 'vni', size: 10, free: 9 }] }) });
    const a = new AgentMetrics('n1', 'v');
    a.endpoints([{ slice: 's', link: 'l', kind: 'vxlan', state: 'ready', rxBytes: 1, txBytes: 1, rxPackets: 1, txPackets: 1, rxDropped: 0, txDropped: 0 }]);
    a.linkHealth('s', 'l', [{ remote: 'n2', alive: true, rttP50Ms: 0.2, rttP99Ms: 0.4, loss: 0 }]);
    a.bgp({ peers: [{ address: '198.18.1.2', asn: 64501, state: 'established', received: 1, accepted: 1, advertised: 1 }], slices: [{ slice: 's', announced: 2, received: 1 }] });
    a.pass({ seconds: 0.01, builds: 1, repairs: 0, failedSteps: 0 });
    const labels = (text: string): Record<string, string> => {
      const out: Record<string, Set<string>> = {};
      for (const m of text.matchAll(/^(visp_[a-z_]+?)(?:_bucket|_sum|_count)?(?:\{([^}]*)\})? \S+$/gm)) {
        const name = text.includes(`# TYPE ${m[1]} `) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, '');
        (out[name] ??= new Set());
        for (const l of (m[2] ?? '').split(',').filter(Boolean)) { const k = l.split('=')[0]!; if (k !== 'le') out[name]!.add(k); }
      }
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].join(', ')]));
    };
    const docLabels = (heading: string): Record<string, string> =>
      Object.fromEntries(tableAfter(DOC, heading).slice(1).map((r) => [r[0]!.replace(/`/g, ''), r[2]!.replace(/`/g, '').trim()]));
    expect(docLabels("The controller's metrics")).toEqual(labels(await c.scrape()));
    expect(docLabels("An agent's metrics")).toEqual(labels(await a.scrape()));
  });

  it('the log fields are those of a daemon\'s records', () => {
    const lines: string[] = [];
    const log = logTo(processLogger({ component: 'controller', destination: { write: (l: string) => lines.push(l) }, pretty: false }));
    withRequest('r1', () => log('x', { slice: 's', link: 'l', node: 'n1' }));
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    const fields = tableAfter(DOC, 'Logs').slice(1).map((r) => r[0]!.replace(/`/g, ''));
    expect(Object.keys(rec).sort()).toEqual([...fields, 'slice', 'link', 'node', 'requestId'].sort());
  });

  it('every `visp graph` line uses flags the command takes', () => {
    const lines = blocks('sh').flatMap((b) => b.split('\n')).filter((l) => l.startsWith('visp graph '));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) {
      const args = l.replace(/\s*(#.*|\|.*)$/, '').split(/\s+/).slice(2);
      expect(() => parse(GRAPH, args), l).not.toThrow();
    }
  });
});

describe.skipIf(browserSkipReason)('docs/operations.md: a browser certificate made as written opens the page in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'visp-ops-doc-'));
  let pki: LabPki;
  let ctl: ControllerHandle;
  beforeAll(async () => {
    pki = await labPki(join(dir, 'pki'), []);
    ctl = await startController({ listen: [{ address: `unix:${join(dir, 'c.sock')}` }], tls: pki.controller, storePath: ':memory:', labPools: true, web: { listen: '127.0.0.1:0' }, log: () => undefined });
  });
  afterAll(async () => {
    await ctl?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('visp certs issue + openssl pkcs12, then the page with that .p12', async () => {
    const block = blocks('sh').find((b) => b.startsWith('# on the CA host'));
    expect(block).toBeDefined();
    // `visp` is this checkout; /etc/visp/pki is the test's CA directory.
    const bin = join(dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'visp'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${ENTRY}" "$@"\n`);
    chmodSync(join(bin, 'visp'), 0o755);
    const work = join(dir, 'work');
    execFileSync('mkdir', ['-p', work]);
    execFileSync('bash', ['-e', '-o', 'pipefail', '-c', block!.replaceAll('/etc/visp/pki', pki.dir)], {
      cwd: work, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pass = /-passout pass:(\S+)/.exec(block!)![1]!;
    const browser = await launchChromium();
    try {
      const origin = `https://${ctl.web!}`;
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true, clientCertificates: [{ origin, pfxPath: join(work, 'alice.p12'), passphrase: pass }] });
      const page = await ctx.newPage();
      const r = await page.goto(`${origin}/`);
      expect(r!.status()).toBe(200);
      expect(await page.textContent('#who')).toBe('operator-readonly alice (visp.test)');
      await page.waitForSelector('#status[data-connected="true"]', { timeout: 10_000 });
      // Connected comes with the stream; the list with its first snapshot, a moment later ("loading…" until then).
      await page.waitForFunction(() => document.querySelector('#slices .empty')?.textContent !== 'loading…', undefined, { timeout: 10_000 });
      expect(await page.textContent('#slices .empty')).toBe('no slices');
    } finally {
      await browser.close();
    }
  });
});

describe.skipIf(kernelSkipReason)('docs/operations.md: the link health commands, run as written on a lab', () => {
  const lab = new Lab('oh', ['n1', 'n2']);
  let slice: string;
  let env: NodeJS.ProcessEnv;
  // Asynchronous: the lab's controller runs in this process and must answer meanwhile.
  const sh = async (cmd: string, netns?: string): Promise<string> => {
    const argv = netns ? ['ip', 'netns', 'exec', netns, 'bash', '-e', '-o', 'pipefail', '-c', cmd] : ['bash', '-e', '-o', 'pipefail', '-c', cmd];
    return (await promisify(execFile)(argv[0]!, argv.slice(1), { encoding: 'utf8', env })).stdout;
  };
  const lines = (first: string): string[] => {
    const block = blocks('sh').find((b) => b.startsWith(first));
    expect(block, first).toBeDefined();
    return block!.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.replace(/\s+#.*$/, ''));
  };
  beforeAll(async () => {
    await lab.start();
    slice = lab.slice('demo');
    await lab.api.links.allocate({ slice, topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [p2p('l', 'r1', 'r2')] } });
    await lab.api.links.provision({ slice });
    await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    await waitFor('probes answered', async () => (await lab.api.operator.listTunnels({ slice })).tunnels.every((t) => t.health.some((h) => h.answered > 0)), 15_000);
    const bin = join(lab.dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'visp'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${ENTRY}" "$@"\n`);
    chmodSync(join(bin, 'visp'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, VISP_CONTROLLER: lab.address, VISP_TLS_CA: lab.pki.operator.ca, VISP_TLS_CERT: lab.pki.operator.cert, VISP_TLS_KEY: lab.pki.operator.key };
  });
  afterAll(async () => { await lab.close(); });

  it('the operator\'s commands: the health column, the JSON per pair; with the underlay cut, the down endpoints and why', async () => {
    const [table, down, asJson] = lines('# link health, as an operator sees it').map((l) => l.replaceAll(' demo', ` ${slice}`));
    expect(await sh(table!)).toMatch(/rtt [\d.]+\/[\d.]+ ms/);
    const pairs = (JSON.parse(await sh(asJson!)) as { tunnels: Array<{ health: Array<Record<string, unknown>> }> }).tunnels.flatMap((t) => t.health);
    expect(pairs).toHaveLength(2);
    for (const p of pairs) expect(p).toMatchObject({ state: 'OPERATIONAL_STATE_READY', rttP50Ms: expect.any(Number), rttP99Ms: expect.any(Number), loss: expect.any(Number), reason: '' });
    expect(await sh(down!)).toBe('no tunnels\n');
    ipIn(lab.hub, 'link', 'set', 'p2', 'down');
    try {
      let out = '';
      const deadline = Date.now() + 5000;
      while (!/no probe answer from 198\.18\.0\.2 over vxlan VNI \d+ since/.test(out) && Date.now() < deadline) out = await sh(down!);
      expect(out).toMatch(/no probe answer from 198\.18\.0\.2 over vxlan VNI \d+ since/);
      expect(out).toMatch(/down +no answer/);
    } finally {
      ipIn(lab.hub, 'link', 'set', 'p2', 'up');
    }
  });

  it('on a node: each link\'s own probe filter ahead of its redirect; the rule set that drops the probe ethertype at every bridge, with its counters', async () => {
    const [filters, table] = lines('# on a node');
    const f = await sh(filters!, lab.node('n1').ns);
    const devices = f.split('\n').filter((l) => /^vt[a-z2-7]{8}:$/.test(l));
    expect(devices.length).toBeGreaterThan(0);
    // Per device: the probe filter (ethertype 0x88B5, as tc prints it: 34997) at pref 1, the redirect to its veth at pref 2.
    expect(f.match(/filter protocol \[34997\] pref 1 u32 .*flowid 1:1/g)?.length).toBe(devices.length);
    expect(f.match(/mirred \(Egress Redirect to device vh[a-z2-7]{8}\)/g)?.length).toBe(devices.length);
    const out = await sh(table!, lab.node('n1').ns);
    expect(out).toMatch(/table bridge visp_health/);
    expect(out).toMatch(/ether type 0x88b5 counter packets \d+ bytes \d+ drop/);
    expect(out).toMatch(/vlan type 0x88b5 counter packets \d+ bytes \d+ drop/);
  });
});

describe.skipIf(kernelSkipReason ?? prometheusSkipReason)('docs/operations.md: Prometheus with the certificate and scrape config made as written; the logs\' jq line', () => {
  const work = mkdtempSync(join(tmpdir(), 'visp-ops-metrics-'));
  const fileLog = (name: string): LogFn => {
    const fd = openSync(join(work, name), 'a');
    return logTo(processLogger({ component: name.startsWith('agent') ? 'agent' : 'controller', destination: { write: (l: string) => writeSync(fd, l) }, pretty: false,
      ...(name.startsWith('agent-') ? { bindings: { node: name.slice(6, -4) } } : {}) }));
  };
  const lab = new Lab('do', ['n1', 'n2'], { metrics: true, controllerLog: fileLog('controller.log'), agentLog: (n) => fileLog(`agent-${n}.log`) });
  const prom = new Prometheus();
  beforeAll(async () => { await lab.start(); }, 60_000);
  afterAll(async () => {
    await prom.stop();
    await lab.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('visp certs issue + install, then prometheus.yml: every target up, the controller\'s and both agents\' series', async () => {
    const etc = join(work, 'etc-prometheus');
    mkdirSync(etc);
    const block = blocks('sh').find((b) => b.startsWith('# Prometheus\'s certificate, on the CA host'));
    expect(block).toBeDefined();
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'visp'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${ENTRY}" "$@"\n`);
    chmodSync(join(bin, 'visp'), 0o755);
    execFileSync('bash', ['-e', '-o', 'pipefail', '-c', block!.replaceAll('/etc/visp/pki', lab.pki.dir).replaceAll('/etc/prometheus', etc)], {
      cwd: work, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const agents = lab.metrics();
    const config = blocks('yaml').find((b) => b.startsWith('# /etc/prometheus/prometheus.yml'))!
      .replaceAll('/etc/prometheus', etc)
      .replace('scrape_interval: 15s', 'scrape_interval: 1s')
      .replace('controller.testbed.example.org:9464', lab.ctl!.metrics!)
      .replace('n1.testbed.example.org:9465', agents.get('n1')!)
      .replace('n2.testbed.example.org:9465', agents.get('n2')!);
    expect(config).not.toContain('example.org');
    await prom.start(config);
    await waitFor('every target up', async () => { const t = await prom.targets(); return t.length === 3 && t.every((x) => x.health === 'up'); }, 30_000, 250)
      .catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(await prom.targets())}`); });
    expect(Number((await prom.query('visp_agents_connected'))[0]?.value[1])).toBe(2);
    // The scrape config's node label and the agent's own name agree.
    expect((await prom.query('visp_agent_info')).map((s) => `${s.metric.job} ${s.metric.node} ${s.metric.nodename}`).sort()).toEqual(['visp-agent n1 n1', 'visp-agent n2 n2']);
  });

  it('the jq line finds a Provision\'s records in the controller\'s log and the agent\'s', async () => {
    const slice = lab.slice('jq');
    await lab.api.links.allocate({ slice, topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [p2p('r1r2', 'r1', 'r2')] } });
    await lab.api.links.provision({ slice });
    await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    const records = readFileSync(join(work, 'controller.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
    const id = records.find((r) => r.component === 'rpc' && r.method === 'Links.Provision')!.requestId!;
    const line = blocks('sh').flatMap((b) => b.split('\n')).find((l) => l.startsWith('jq '))!;
    const found = execFileSync('bash', ['-c', line.replace(/"[0-9a-f]{16}"/, `"${id}"`)], { cwd: work, encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
    expect(new Set(found.map((r) => r.requestId))).toEqual(new Set([id]));
    expect(found.some((r) => r.component === 'rpc' && r.method === 'Links.Provision')).toBe(true);
    expect(found.filter((r) => r.component === 'reconcile' && r.node === 'n1' && r.slice === slice && r.link === 'r1r2' && r.msg.includes(' built: ')).length).toBeGreaterThan(0);
  });
});
