// A quick throughput comparison in one run, same pair of namespaces: iperf3
// TCP, one stream, over raw veth, kernel VXLAN, userspace EtherIP and
// userspace gretap. Not the benchmark the issue asks for (`npm run bench --
// dataplane`), and not in CI: VISP_DATAPLANE_THROUGHPUT=1 runs it (about 30 s).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import { ipIn, kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = Number(process.env.VISP_DATAPLANE_THROUGHPUT_SECONDS ?? 5);
const skip = kernelSkipReason ?? (process.env.VISP_DATAPLANE_THROUGHPUT ? undefined : 'set VISP_DATAPLANE_THROUGHPUT=1 to measure');

/** utime + stime of a process, in seconds. */
function cpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

describe.skipIf(skip)('throughput: veth vs kernel VXLAN vs visp-engine', () => {
  const engines: EngineProcess[] = [];
  let server: ChildProcess | undefined;
  let runDir = '';
  afterAll(async () => {
    server?.kill();
    for (const e of engines) await e.stop();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  it('measures', async () => {
    sh('bash', [join(repo, 'scripts/build-engine.sh')]);
    runDir = mkdtempSync(join(tmpdir(), 'visp-tp-'));
    const ul = underlayPair('tp');
    const xa = makeNetns('tpxa'), xb = makeNetns('tpxb');
    const place = (node: string, exp: string, dev: string, addr: string): void => {
      ipIn(node, 'link', 'set', dev, 'netns', exp);
      ipIn(exp, 'addr', 'add', addr, 'dev', dev);
      ipIn(exp, 'link', 'set', dev, 'up');
    };
    for (const [node, exp, l, r, h] of [[ul.a, xa, ul.a4, ul.b4, 1], [ul.b, xb, ul.b4, ul.a4, 2]] as const) {
      ipIn(node, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', l, 'remote', r, 'dstport', '4789');
      place(node, exp, 'vx0', `192.0.2.${h}/30`);
      const e = new EngineProcess({ netns: node, runDir });
      engines.push(e);
      await e.start();
      await e.client.ensureTunnel({ name: 'eip0', kind: 'etherip', local: l, remote: r });
      await e.client.ensureTunnel({ name: 'gt0', kind: 'gretap', local: l, remote: r, key: 7 });
      place(node, exp, 'eip0', `192.0.2.${4 + h}/30`);
      place(node, exp, 'gt0', `192.0.2.${8 + h}/30`);
    }
    server = spawn('ip', ['netns', 'exec', ul.b, 'iperf3', '-s'], { stdio: 'ignore' });
    const serverX = spawn('ip', ['netns', 'exec', xb, 'iperf3', '-s'], { stdio: 'ignore' });
    await sleep(500);
    const run = (ns: string, dst: string): { gbps: number; cpu: number } => {
      const pids = engines.map((e) => e.pid!);
      const c0 = pids.reduce((s, p) => s + cpu(p), 0);
      const r = spawnSync('ip', ['netns', 'exec', ns, 'iperf3', '-c', dst, '-t', String(SECONDS), '-J'], { encoding: 'utf8' });
      const c1 = pids.reduce((s, p) => s + cpu(p), 0);
      const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
      return { gbps: j.end.sum_received.bits_per_second / 1e9, cpu: (c1 - c0) / SECONDS };
    };
    try {
      const res = {
        veth: run(ul.a, ul.b4),
        kernelVxlan: run(xa, '192.0.2.2'),
        engineEtherip: run(xa, '192.0.2.6'),
        engineGretap: run(xa, '192.0.2.10'),
      };
      const out = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, {
        gbps: +v.gbps.toFixed(3), ratioToVxlan: +(v.gbps / res.kernelVxlan.gbps).toFixed(3),
        engineCpuCores: +v.cpu.toFixed(2), engineCpuPerGbps: v.gbps > 0 ? +(v.cpu / v.gbps).toFixed(2) : null,
      }]));
      console.log(JSON.stringify(out));
      expect(res.engineEtherip.gbps).toBeGreaterThan(0);
      expect(res.engineGretap.gbps).toBeGreaterThan(0);
    } finally {
      serverX.kill();
    }
  }, 120_000);
});
