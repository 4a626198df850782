// Link properties on a userspace tunnel (docs/links.md): where visp-engine
// carries the link (EtherIP always; the GRE family on this host), the
// node-side device is its TAP on the bridge, and the shaper goes on that
// TAP's egress as on a kernel tunnel's. Measured with iperf3 as the kernel
// path is (test/kernel/shaping.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { measure } from '../helpers/iperf.js';
import { kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';
import { ok } from '../helpers/nodes.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const MTU = 1400;

describe.skipIf(kernelSkipReason)('link properties on a userspace (visp-engine) tunnel', () => {
  let runDir: string;
  let u: ReturnType<typeof underlayPair>;
  let xa: string, xb: string;
  let A: NodeKernel, B: NodeKernel;
  beforeAll(() => {
    sh('bash', [join(repo, 'scripts/build-engine.sh')]);
    runDir = mkdtempSync(join(tmpdir(), 'visp-shu-'));
    u = underlayPair('shu');
    xa = makeNetns('shuxa');
    xb = makeNetns('shuxb');
    A = new NodeKernel({ netns: u.a, engine: { runDir } });
    B = new NodeKernel({ netns: u.b, engine: { runDir } });
  });
  afterAll(async () => {
    await A?.deleteSlice(7401, [xa]).catch(() => undefined);
    await B?.deleteSlice(7401, [xb]).catch(() => undefined);
    await A?.stopEngine(); await B?.stopEngine();
    A?.close(); B?.close();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('EtherIP at 10 Mbit/s one way: its TAP carries the tbf, the rate holds within ±5%, the other way is unshaped', async () => {
    const c = { slice: 'su', link: 'l', group: 7401, kind: 'etherip' as const, key: 0, ifname: 'eth1', mtu: MTU };
    const sa: EndpointSpec = { ...c, local: u.a4, remotes: [u.b4], netns: xa, addresses: ['192.0.2.40/31'], properties: { capacity: 10e6 } };
    const sb: EndpointSpec = { ...c, local: u.b4, remotes: [u.a4], netns: xb, addresses: ['192.0.2.41/31'] };
    const r = ok(await A.reconcile([sa]));
    ok(await B.reconcile([sb]));
    const shape = r[0]!.steps.find((s) => s.includes('egress:'));
    expect(shape).toMatch(/^node: vt\w+ egress: capacity 10Mbit \(new device\)$/);
    const tap = /^node: (vt\w+) egress/.exec(shape!)![1]!;
    const tc = JSON.parse(spawnSync('tc', ['-n', u.a, '-j', 'qdisc', 'show', 'dev', tap], { encoding: 'utf8' }).stdout) as Array<Record<string, any>>;
    // Its egress shaper, beside the clsact that joins it to the veth.
    expect(tc.map((q) => q.kind)).toEqual(['tbf', 'bfifo', 'clsact']);
    const ab = await measure(xa, xb, '192.0.2.41', MTU);
    console.log(`userspace EtherIP at 10 Mbit/s: frame rate ${(ab.frameRate / 1e6).toFixed(2)} Mbit/s (ratio ${(ab.frameRate / 10e6).toFixed(3)}), goodput ${(ab.goodput / 1e6).toFixed(2)}`);
    expect(ab.frameRate / 10e6).toBeGreaterThan(0.95);
    expect(ab.frameRate / 10e6).toBeLessThan(1.05);
    const ba = await measure(xb, xa, '192.0.2.40', MTU, 2);
    expect(ba.goodput).toBeGreaterThan(50e6);
  });
});
