// npm run bench -- dataplane [--seconds 10] [--repeats 3] [--underlay 4|6] [--parallel 1] [--paths veth,kernelVxlan,engineEtherip,engineGretap] [--engine PATH]
//
// Throughput of one link, four ways, in one run over the same pair of node
// namespaces joined by a veth underlay: iperf3 TCP (one stream) over the raw
// veth, over kernel VXLAN, over visp-engine's EtherIP and over its gretap
// (with a key). The tunnels end in experiment namespaces, as an agent would
// lay them. Each repeat runs the four paths back to back (so machine noise
// lands on all of them alike); the result is the median per path.
//
// CPU: the engines' own CPU seconds (utime+stime from /proc/PID/stat, both
// engines) per Gbit/s of goodput, and the whole machine's busy CPU per
// Gbit/s for every path — the kernel paths do their work in softirq, which
// no process is charged for, so only the machine-wide figure compares like
// with like. Progress goes to stderr; the last stdout line is JSON.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineProcess, XDP_MODES, type XdpMode } from '../src/dataplane/engine-process.js';
import { cpuBusySeconds, log, median, round, settle } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, ipIn, removeAllScratch, scratchNetns, sh } from './lib/scratch.js';

const PATHS = ['veth', 'kernelVxlan', 'engineEtherip', 'engineGretap'] as const;
type Path = typeof PATHS[number];

interface Options { seconds: number; repeats: number; underlay: 4 | 6; parallel: number; paths: Path[]; engine?: string; xdp: XdpMode }

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 10, repeats: 3, underlay: 4, parallel: 1, paths: [...PATHS], xdp: 'auto' };
  parseOptions(argv, {
    '--seconds': (v) => { o.seconds = v.int(); },
    '--repeats': (v) => { o.repeats = v.int(); },
    '--parallel': (v) => { o.parallel = v.int(); },
    '--underlay': (v) => {
      const n = v.int();
      if (n !== 4 && n !== 6) throw new Error('--underlay is 4 or 6');
      o.underlay = n;
    },
    // Another build of visp-engine, to compare two in turn.
    '--engine': (v) => { o.engine = v.text(); },
    // The engine's fast path (auto, off, native, generic): off measures the raw sockets alone.
    '--xdp': (v) => {
      const m = v.text();
      if (!(XDP_MODES as readonly string[]).includes(m)) throw new Error(`--xdp is one of ${XDP_MODES.join(', ')}`);
      o.xdp = m as XdpMode;
    },
    '--paths': (v) => {
      // A subset, e.g. to profile one path; kernel VXLAN always runs (the ratios' reference).
      const want = v.text().split(',');
      for (const w of want) if (!(PATHS as readonly string[]).includes(w)) throw new Error(`--paths: ${w}? (have ${PATHS.join(',')})`);
      o.paths = PATHS.filter((p) => p === 'kernelVxlan' || want.includes(p));
    },
  });
  return o;
}

/** utime + stime of a process, in seconds (USER_HZ = 100). */
function procCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}


interface Sample { gbps: number; engineCpuS: number; machineCpuS: number; retransmits: number; packetsPerGso?: number; packetsPerGro?: number }

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const engines: EngineProcess[] = [];
  const servers: ChildProcess[] = [];
  const runDir = mkdtempSync(join(tmpdir(), 'visp-bench-dp-'));
  // Interrupted (handled once the iperf3 run under way returns): the engines
  // run detached and the iperf3 servers in their own namespaces, so stop them
  // before the scratch handler removes the namespaces.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const srv of servers) srv.kill('SIGKILL');
      for (const e of engines) { try { if (e.pid) process.kill(e.pid, 'SIGKILL'); } catch { /* gone */ } }
      rmSync(runDir, { recursive: true, force: true });
    });
  }
  cleanupOnSignal();
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  sh('bash', [join(repo, 'scripts/build-engine.sh')]);
  try {
    // Node namespaces a, b on a veth underlay; experiment namespaces xa, xb.
    const a = scratchNetns('dpa'), b = scratchNetns('dpb');
    const xa = scratchNetns('dpxa'), xb = scratchNetns('dpxb');
    ipIn(a, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b);
    for (const [ns, n] of [[a, 1], [b, 2]] as const) {
      ipIn(ns, 'addr', 'add', `198.18.0.${n}/24`, 'dev', 'ul0');
      ipIn(ns, '-6', 'addr', 'add', `2001:db8:ff::${n}/64`, 'dev', 'ul0', 'nodad');
      ipIn(ns, 'link', 'set', 'ul0', 'up');
    }
    const ul = o.underlay === 4 ? ['198.18.0.1', '198.18.0.2'] : ['2001:db8:ff::1', '2001:db8:ff::2'];
    const place = (node: string, exp: string, dev: string, addr: string): void => {
      ipIn(node, 'link', 'set', dev, 'netns', exp);
      ipIn(exp, 'addr', 'add', addr, 'dev', dev);
      ipIn(exp, 'link', 'set', dev, 'up');
    };
    for (const [node, exp, l, r, h] of [[a, xa, ul[0]!, ul[1]!, 1], [b, xb, ul[1]!, ul[0]!, 2]] as const) {
      ipIn(node, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', l, 'remote', r, 'dstport', '4789');
      place(node, exp, 'vx0', `192.0.2.${h}/30`);
      const e = new EngineProcess({ netns: node, runDir, xdp: o.xdp, ...(o.engine ? { binary: o.engine } : {}) });
      engines.push(e);
      await e.start();
      await e.client.ensureTunnel({ name: 'eip0', kind: 'etherip', local: l, remote: r });
      await e.client.ensureTunnel({ name: 'gt0', kind: 'gretap', local: l, remote: r, key: 7 });
      place(node, exp, 'eip0', `192.0.2.${4 + h}/30`);
      place(node, exp, 'gt0', `192.0.2.${8 + h}/30`);
    }
    const target: Record<Path, [string, string]> = {
      veth: [a, '198.18.0.2'], kernelVxlan: [xa, '192.0.2.2'], engineEtherip: [xa, '192.0.2.6'], engineGretap: [xa, '192.0.2.10'],
    };
    for (const ns of [b, xb]) servers.push(spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s'], { stdio: 'ignore' }));
    for (const ns of [b, xb]) {
      for (let i = 0; i < 100 && !/:5201\b/.test(sh('ip', ['netns', 'exec', ns, 'ss', '-ltnH'])); i++) await sleep(50);
    }
    // Neighbour discovery and a first handshake out of the way.
    for (const p of PATHS) spawnSync('ip', ['netns', 'exec', target[p][0], 'ping', '-c', '1', '-W', '2', target[p][1]]);

    // How much the offloads batch: underlay packets per TSO frame read on the
    // sending node, per merged frame written on the receiving one.
    const tunnelOf: Partial<Record<Path, string>> = { engineEtherip: 'eip0', engineGretap: 'gt0' };
    const counters = async (p: Path): Promise<{ tx: number; gso: number; rx: number; gro: number } | undefined> => {
      const name = tunnelOf[p];
      if (!name) return undefined;
      const [ta, tb] = await Promise.all(engines.map(async (e) => (await e.client.list()).tunnels.find((t) => t.name === name)!));
      // (An engine from before the offloads has no such counters.)
      if (ta!.txGsoFrames === undefined || tb!.rxGroFrames === undefined) return undefined;
      return { tx: ta!.txPackets, gso: ta!.txGsoFrames, rx: tb!.rxPackets, gro: tb!.rxGroFrames };
    };
    const one = async (p: Path): Promise<Sample> => {
      const pids = engines.map((e) => e.pid!);
      const c0 = await counters(p);
      const e0 = pids.reduce((s, pid) => s + procCpu(pid), 0), m0 = cpuBusySeconds();
      const r = spawnSync('ip', ['netns', 'exec', target[p][0], 'iperf3', '-c', target[p][1], '-t', String(o.seconds), '-P', String(o.parallel), '-J'],
        { encoding: 'utf8' });
      const e1 = pids.reduce((s, pid) => s + procCpu(pid), 0), m1 = cpuBusySeconds();
      const c1 = await counters(p);
      if (r.status !== 0) throw new Error(`iperf3 over ${p} failed (${r.status ?? r.signal}): ${(r.stdout || r.stderr).slice(-300)}`);
      const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
      return {
        gbps: j.end.sum_received.bits_per_second / 1e9, engineCpuS: e1 - e0, machineCpuS: m1 - m0, retransmits: j.end.sum_sent.retransmits ?? 0,
        ...(c0 && c1 ? { packetsPerGso: (c1.tx - c0.tx) / Math.max(1, c1.gso - c0.gso), packetsPerGro: (c1.rx - c0.rx) / Math.max(1, c1.gro - c0.gro) } : {}),
      };
    };

    const samples: Record<Path, Sample[]> = { veth: [], kernelVxlan: [], engineEtherip: [], engineGretap: [] };
    let unsettled = 0;
    for (let k = 0; k < o.repeats; k++) {
      for (const p of o.paths) {
        if (!(await settle(0.8, 5))) unsettled++;
        const s = await one(p);
        samples[p].push(s);
        log(`repeat ${k + 1}/${o.repeats} ${p}: ${s.gbps.toFixed(2)} Gbit/s, engines ${(s.engineCpuS / o.seconds).toFixed(2)} cores, machine ${(s.machineCpuS / o.seconds).toFixed(2)} cores, retransmits ${s.retransmits}` +
          (s.packetsPerGso !== undefined ? `, packets per TSO frame ${s.packetsPerGso.toFixed(1)}, per merged frame ${s.packetsPerGro!.toFixed(1)}` : ''));
      }
    }
    const vx = median(samples.kernelVxlan.map((s) => s.gbps));
    const perPath = Object.fromEntries(o.paths.map((p) => {
      const ss = samples[p];
      const gbps = median(ss.map((s) => s.gbps));
      // CPU per Gbit/s: CPU seconds per second of transfer, divided by Gbit/s.
      const perGbps = (cpu: (s: Sample) => number): number | null => (gbps > 0 ? round(median(ss.map((s) => cpu(s) / o.seconds / Math.max(s.gbps, 1e-9))), 3) : null);
      return [p, {
        gbps: round(gbps, 3),
        ratioToVxlan: round(gbps / vx, 3),
        samplesGbps: ss.map((s) => round(s.gbps, 3)),
        ...(p.startsWith('engine') ? {
          engineCpuCores: round(median(ss.map((s) => s.engineCpuS / o.seconds)), 3),
          engineCpuSecondsPerGbit: perGbps((s) => s.engineCpuS),
          ...(ss.every((s) => s.packetsPerGso !== undefined) ? {
            packetsPerGsoFrame: round(median(ss.map((s) => s.packetsPerGso!)), 1),
            packetsPerGroFrame: round(median(ss.map((s) => s.packetsPerGro!)), 1),
          } : {}),
        } : {}),
        machineCpuCores: round(median(ss.map((s) => s.machineCpuS / o.seconds)), 3),
        machineCpuSecondsPerGbit: perGbps((s) => s.machineCpuS),
        retransmits: median(ss.map((s) => s.retransmits)),
      }];
    }));
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    console.log(JSON.stringify({
      bench: 'dataplane', underlay: `ipv${o.underlay}`, seconds: o.seconds, repeats: o.repeats, streams: o.parallel,
      gbps: Object.fromEntries(o.paths.map((p) => [p, perPath[p]!.gbps])),
      ratioToVxlan: Object.fromEntries(o.paths.map((p) => [p, perPath[p]!.ratioToVxlan])),
      engineCpuSecondsPerGbit: Object.fromEntries(o.paths.filter((p) => p.startsWith('engine')).map((p) => [p, perPath[p]!.engineCpuSecondsPerGbit])),
      paths: perPath, unsettled, loadavg: load,
    }));
  } finally {
    for (const s of servers) s.kill();
    for (const e of engines) await e.stop();
    rmSync(runDir, { recursive: true, force: true });
    removeAllScratch();
  }
}

main().catch((e: unknown) => {
  log(`bench dataplane: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  removeAllScratch();
  process.exit(1);
});
