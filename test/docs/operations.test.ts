// docs/operations.md cannot drift: its colour table is the renderer's, its
// controller config parses, its `visp graph` lines are flags the command
// takes, its link health commands run as written on a lab (and show what the
// page says they show, also with an underlay cut), and its browser-certificate commands, run as written (the CA
// directory pointed at a test CA), make a PKCS#12 file that a real
// Chromium presents to the controller's page and gets in with.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { parse } from '../../src/cli/args.js';
import { GRAPH } from '../../src/cli/graph.js';
import { parseControllerConfig } from '../../src/config/controller.js';
import { ConfigFile } from '../../src/config/reader.js';
import { STATE_COLOURS } from '../../src/graph/view.js';
import { browserSkipReason, launchChromium } from '../helpers/browser.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';
import { ipIn, kernelSkipReason } from '../helpers/netns.js';
import { Lab, p2p, waitFor } from '../e2e/support.js';
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
    const yaml = blocks('yaml');
    expect(yaml).toHaveLength(1);
    const c = parseControllerConfig(new ConfigFile('docs/operations.md', yaml[0]!));
    expect(c.web).toEqual({ listen: '0.0.0.0:7444' });
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

  it('on a node: the rule set that drops the probe ethertype at every bridge, with its counters', async () => {
    const [list] = lines('# on a node');
    const out = await sh(list!, lab.node('n1').ns);
    expect(out).toMatch(/table bridge visp_health/);
    expect(out).toMatch(/ether type 0x88b5 counter packets [1-9]\d* bytes \d+ drop/);
    expect(out).toMatch(/vlan type 0x88b5 counter packets \d+ bytes \d+ drop/);
  });
});
