// docs/links.md's `visp link` lines, run as written against a lab controller
// (its operator certificate, as `visp` finds a lab's): the slice "exp1" is
// the lab's own slice, the change id of `visp link cancel` the one
// `visp describe` printed just before. After each line the API shows what
// it says it does.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason } from '../helpers/netns.js';
import { Lab, p2p, type Manifest } from '../e2e/support.js';
import { REPO } from './sandbox.js';

const DOC = readFileSync(new URL('../../docs/links.md', import.meta.url), 'utf8');
const BLOCK = /<!-- doctest: link-cli -->\s*```sh\n([\s\S]*?)```/.exec(DOC)?.[1] ?? '';
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

describe.skipIf(kernelSkipReason)('docs/links.md: the visp link lines, run as written', () => {
  const lab = new Lab('ld', ['n1', 'n2']);
  let slice: string;
  beforeAll(async () => {
    await lab.start();
    slice = lab.slice('exp1');
    await lab.api.links.allocate({ slice, topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [p2p('r1-r2', 'r1', 'r2', { properties: { capacityBps: 10e6 } })] } });
    await lab.api.links.provision({ slice });
  }, 60_000);
  afterAll(async () => { await lab.close(); });

  const visp = (args: string[]): Promise<{ code: number | null; out: string; err: string }> => new Promise((resolve, reject) => {
    const { ca, cert, key } = lab.pki.operator;
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, VISP_CONTROLLER: lab.address, VISP_TLS_CA: ca, VISP_TLS_CERT: cert, VISP_TLS_KEY: key },
    });
    let out = '', err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
  const manifest = async (): Promise<Manifest> => (await lab.api.links.describe({ slice })).manifest!;

  it('every line runs and does what its comment says', async () => {
    const lines = BLOCK.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
    expect(lines).toHaveLength(8);
    let lastId = '';
    for (const line of lines) {
      const args = line.split(/\s+/).slice(1).map((a) => (a === 'exp1' ? slice : a === 'c7-mk3f9v2a' ? lastId : a));
      const r = await visp(args);
      expect(r.code, `${line}\n${r.err}`).toBe(0);
      const m = await manifest();
      const sliver = m.slivers[0]!;
      expect(sliver.operationalState).not.toBe('OPERATIONAL_STATE_FAILED');
      const before = Date.now();
      if (line.includes('--capacity 20Mbit --from')) {
        expect(sliver.endpoints.map((e) => [e.node, e.properties?.capacityBps])).toEqual([['r1', 20e6], ['r2', 50e6]]);
      } else if (line.includes('--loss 100%')) {
        const c = m.scheduled.at(-1)!;
        expect(c).toMatchObject({ link: 'r1-r2', properties: { capacityBps: 20e6, loss: 1 } });
        expect(Date.parse(c.at) - before).toBeGreaterThan(29 * 60_000);
        expect(r.out).toMatch(new RegExp(`scheduled as ${c.id} for `));
      } else if (line.startsWith('visp describe')) {
        lastId = /^(c\d+-[0-9a-z]+)\s/m.exec(r.out.split(/^SCHEDULED/m)[1] ?? '')?.[1] ?? '';
        expect(lastId, r.out).toBe(m.scheduled[0]!.id);
      } else if (line.startsWith('visp link cancel')) {
        expect(m.scheduled.map((c) => c.id)).not.toContain(lastId);
      } else if (line.includes('--at +10m')) {
        expect(m.scheduled.at(-1)).toMatchObject({ action: 'OPERATIONAL_ACTION_STOP', slivers: [`${slice}/r1-r2`] });
      } else if (line.includes('--at +20m')) {
        expect(m.scheduled.map((c) => c.action)).toEqual(['OPERATIONAL_ACTION_STOP', 'OPERATIONAL_ACTION_START']);
      } else if (line.startsWith('visp link down')) {
        expect(r.out).toMatch(/every link down: done/);
        await lab.waitState(slice, 'OPERATIONAL_STATE_STOPPED');
      } else if (line.startsWith('visp link up')) {
        expect(r.out).toMatch(/every link up: done/);
        await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
      }
    }
  }, 90_000);
});
