// The host side of the VM lane's proof on separate kernels
// (test/vm/mtls-hosts.test.ts is the guest side; lane.sh runs both). Runs on
// the host, in the lane's namespace (lane.sh starts it under
// `nsenter --net=`, which keeps the host's mount namespace, so the
// namespaces made here are the host's). The daemons are the CLI's, as a
// testbed runs them: `visp controller` listens there on 198.18.10.1:7443,
// TCP with mutual TLS; node h1 is a namespace of its own joined to the
// guest's second NIC by bridge vmbr1, with `visp agent` in it, given only
// the controller's address and its certificate (its name comes from the
// certificate, its underlay from the route to the controller). This host
// has no ip_gre: h1's gretap is visp-engine.
//
//   nsenter --net=/run/netns/NS node --import tsx test/vm/mtls-host.ts --netns NS --out DIR [--timeout-s 900]
//
// The testbed's CA and the controller's key stay here; the guest gets what a
// node operator and an aggregate manager would be given (mtls/pki/). It then
// drives the test through the API and asks this side, over the share (see
// mtls-net.ts), for what only the host can see: pings from h1's experiment
// namespaces, what h1 holds beyond its baseline, the audit log, the engine.
// Exit code 0 unless the host side could not be built, failed while serving,
// or the guest started and never finished.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { ANCHOR } from '../../src/bridge/anchor.js';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connect, type VispClient } from '../../src/api/client.js';
import { EngineClient } from '../../src/dataplane/engine-client.js';
import { labPki } from '../helpers/lab-pki.js';
import { CONTROLLER, GUEST, HOST, MTLS_DIR, OTHER_NODE, PREFIX_LEN, writeWhole, type HostAnswer, type HostReady, type HostRequest } from './mtls-net.js';

const { values } = parseArgs({ options: { netns: { type: 'string' }, out: { type: 'string' }, 'timeout-s': { type: 'string' } } });
if (!values.netns || !values.out) {
  process.stderr.write('usage: nsenter --net=/run/netns/NS node --import tsx mtls-host.ts --netns NS --out DIR [--timeout-s 900]\n');
  process.exit(2);
}
const T0 = Date.now();
const NS = values.netns;
const SHARE = join(values.out, MTLS_DIR);
const NODE_NS = `${NS}h`;
const SLICE = `${NS}-mtls`;
const deadline = Date.now() + Number(values['timeout-s'] ?? 900) * 1000;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const VISP = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const log = (m: string): void => { process.stdout.write(`mtls-host: ${m}\n`); };
const ip = (...a: string[]): string => {
  const r = spawnSync('ip', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
};
const sh = (cmd: string, ...a: string[]): string => {
  const r = spawnSync(cmd, a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
};

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = deadline - Date.now()): Promise<void> {
  const end = Math.min(deadline, Date.now() + ms);
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** What teardown must restore on h1: links (name and kind), FDB entries, routes of every table. */
function snapshot(): string[] {
  // The node's anchor bridge is the node's: made with its first VXLAN link and kept (src/bridge/anchor.ts).
  const links = (JSON.parse(ip('-n', NODE_NS, '-d', '-j', 'link', 'show')) as Array<Record<string, any>>).filter((l) => l.ifname !== ANCHOR)
    .map((l) => `link ${l.ifname} ${l.linkinfo?.info_kind ?? l.link_type}${String(l.ifalias ?? '').startsWith('visp:') ? ` (${l.ifalias})` : ''}`);
  const fdb = (JSON.parse(sh('bridge', '-n', NODE_NS, '-j', 'fdb', 'show')) as Array<Record<string, any>>).filter((e) => e.ifname !== ANCHOR)
    .map((e) => `fdb ${e.mac} ${e.ifname ?? ''} ${e.dst ?? ''}`);
  const routes = ['-4', '-6'].flatMap((f) => ip('-n', NODE_NS, f, 'route', 'show', 'table', 'all').split('\n').filter(Boolean).map((r) => `route ${r}`));
  return [...links, ...fdb, ...routes].sort();
}
const experimentNamespaces = (): string[] => readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${SLICE}:`));

const runDir = mkdtempSync(join(tmpdir(), 'visp-mtls-'));
const engine = new EngineClient(join(runDir, `engine-${HOST.node}.sock`));
let api: VispClient | undefined;
let controller: ChildProcess | undefined;
let agent: ChildProcess | undefined;
const agentLog: string[] = [];

/** `visp …` as a process; its stderr lines go to `lines` (and to our log with `prefix`). */
function visp(argv: string[], lines: string[], prefix?: string): ChildProcess {
  const p = spawn(argv[0]!, argv.slice(1), { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let partial = '';
  p.stderr!.on('data', (d: Buffer) => {
    const got = (partial + d.toString()).split('\n');
    partial = got.pop()!;
    for (const l of got.filter(Boolean)) {
      lines.push(l);
      if (prefix) log(`${prefix}${l.replace(/^\S+Z /, '')}`);
    }
  });
  return p;
}

async function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([gone, sleep(10_000).then(() => p.kill('SIGKILL'))]);
  await gone;
}
let baseline: string[] = [];
let failed = false;

async function leftovers(): Promise<string[]> {
  const now = snapshot();
  const out = [
    ...now.filter((x) => !baseline.includes(x)).map((x) => `${NODE_NS}: extra ${x}`),
    ...baseline.filter((x) => !now.includes(x)).map((x) => `${NODE_NS}: missing ${x}`),
    ...experimentNamespaces().map((n) => `experiment namespace ${n} still exists on the host`),
  ];
  if (existsSync(engine.socketPath)) {
    const t = (await engine.list()).tunnels;
    if (t.length) out.push(`h1's engine still has tunnels ${t.map((x) => x.name).join(', ')}`);
  }
  return out;
}

async function answer(q: HostRequest): Promise<HostAnswer> {
  switch (q.op) {
    case 'ping':
      return {
        pings: await Promise.all(q.pings.map(async ({ netns, dst }) => {
          // Only this slice's namespaces on h1, and only an address.
          if (!netns.startsWith(`visp-${SLICE}:`) || !experimentNamespaces().includes(netns) || !/^[0-9a-f:.]+$/i.test(dst)) return { netns, dst, ok: false };
          let ok = false;
          for (let i = 0; i < 3 && !ok; i++) {
            ok = await new Promise<boolean>((resolve) => {
              spawn('ip', ['netns', 'exec', netns, 'ping', '-n', '-q', '-c', '3', '-i', '0.2', '-W', '2', dst], { stdio: 'ignore' }).on('exit', (c) => resolve(c === 0));
            });
          }
          log(`ping ${dst} from ${netns}: ${ok ? 'ok' : 'FAILED'}`);
          return { netns, dst, ok };
        })),
      };
    case 'leftovers': {
      let left = await leftovers();
      const end = Date.now() + q.waitMs;
      while (left.length && Date.now() < end) { await sleep(200); left = await leftovers(); }
      log(`h1 after teardown: ${left.length ? left.join('; ') : 'as before the slice'}`);
      return { leftovers: left };
    }
    case 'audit':
      return { audit: readFileSync(join(runDir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>) };
    case 'engine': {
      const l = await engine.list();
      return { engine: { tunnels: l.tunnels.map((t) => ({ name: t.name, kind: t.kind, txPackets: t.txPackets, rxPackets: t.rxPackets })), ...(l.xdp ? { xdp: `${l.xdp.status}; ports ${l.xdp.ports.map((p) => `${p.device} ${p.mode}`).join(', ') || 'none'}` } : {}) } };
    }
  }
}

try {
  mkdirSync(join(SHARE, 'pki'), { recursive: true });
  // The LAN: qemu's second tap, the controller's address and h1's underlay on one bridge.
  await until(`vmtap1 in ${NS}`, () => spawnSync('ip', ['-n', NS, 'link', 'show', 'dev', 'vmtap1']).status === 0, 120_000);
  ip('-n', NS, 'link', 'add', 'vmbr1', 'type', 'bridge');
  ip('-n', NS, 'link', 'set', 'vmtap1', 'master', 'vmbr1', 'up');
  ip('-n', NS, 'addr', 'add', `${CONTROLLER.v4}/${PREFIX_LEN}`, 'dev', 'vmbr1');
  ip('-n', NS, 'link', 'set', 'vmbr1', 'up');
  ip('netns', 'add', NODE_NS);
  ip('-n', NODE_NS, 'link', 'set', 'lo', 'up');
  ip('-n', NS, 'link', 'add', 'vh1', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', NODE_NS);
  ip('-n', NS, 'link', 'set', 'vh1', 'master', 'vmbr1', 'up');
  ip('-n', NODE_NS, 'addr', 'add', `${HOST.v4}/${PREFIX_LEN}`, 'dev', 'ul0');
  ip('-n', NODE_NS, 'link', 'set', 'ul0', 'up');

  // The testbed's PKI. The guest gets its node's certificate, the impostor's (another node's), and the AM's and operator's.
  const pki = await labPki(join(runDir, 'pki'), [HOST.node, GUEST.node, OTHER_NODE]);
  const give = (f: string): string => { const name = f.split('/').pop()!; copyFileSync(f, join(SHARE, 'pki', name)); return `pki/${name}`; };
  const files: HostReady['files'] = {
    ca: give(pki.controller.ca),
    am: { cert: give(pki.am.cert), key: give(pki.am.key) },
    operator: { cert: give(pki.operator.cert), key: give(pki.operator.key) },
    nodes: Object.fromEntries([GUEST.node, OTHER_NODE].map((n) => [n, { cert: give(pki.node(n).cert), key: give(pki.node(n).key) }])),
  };

  // The controller: TCP with mTLS, lab pools, its store and audit log here.
  const address = `${CONTROLLER.v4}:${CONTROLLER.port}`;
  const tlsFlags = (t: { ca: string; cert: string; key: string }): string[] => ['--tls-ca', t.ca, '--tls-cert', t.cert, '--tls-key', t.key];
  const ctlLog: string[] = [];
  const c = controller = visp([process.execPath, '--import', 'tsx', VISP, 'controller', '--listen', address, ...tlsFlags(pki.controller),
    '--lab', '--store', join(runDir, 'store.sqlite'), '--audit-log', join(runDir, 'audit.jsonl')], ctlLog, 'controller: ');
  await until('the controller listening', () => {
    if (c.exitCode !== null) throw new Error(`visp controller exited (${c.exitCode}): ${ctlLog.slice(-3).join(' | ')}`);
    return ctlLog.some((l) => l.includes(`controller listening on ${address}`));
  }, 60_000);
  api = connect(address, pki.operator);

  // h1's agent: its own process in h1's namespace, reaching the controller over TCP like any node.
  const a = agent = visp(['nsenter', `--net=/run/netns/${NODE_NS}`, '--', process.execPath, '--import', 'tsx', VISP, 'agent',
    '--controller', address, ...tlsFlags(pki.node(HOST.node)), '--run-dir', runDir, '--reconcile-interval', '1s'], agentLog);
  await until('h1 connected', async () => {
    if (a.exitCode !== null) throw new Error(`h1's agent exited (${a.exitCode}): ${agentLog.slice(-5).join(' | ')}`);
    return (await api!.operator.listNodes({})).nodes.some((n) => n.name === HOST.node && n.connected);
  }, 60_000);
  // The kernel adds ul0's link-local address (and its local route) a moment after link up: wait, so the baseline stays valid.
  await until('link-local on h1\'s underlay', () => ip('-n', NODE_NS, '-6', 'route', 'show', 'table', 'local').includes('local fe80:'), 20_000);
  baseline = snapshot();

  const ready: HostReady = { controller: address, slice: SLICE, files, upS: (Date.now() - T0) / 1000 };
  writeWhole(join(SHARE, 'host-ready.json'), JSON.stringify(ready));
  log(`up in ${ready.upS.toFixed(1)} s: controller on ${address} (mTLS) in ${NS}, node ${HOST.node} (${HOST.v4}) in ${NODE_NS}`);

  // Serve the guest's requests until it is done.
  const answered = new Set<string>();
  while (!existsSync(join(SHARE, 'guest-done'))) {
    if (Date.now() > deadline) throw new Error('the guest never finished (no mtls/guest-done)');
    for (const f of readdirSync(SHARE).filter((x) => /^req-\d+\.json$/.test(x) && !answered.has(x))) {
      answered.add(f);
      const q = JSON.parse(readFileSync(join(SHARE, f), 'utf8')) as HostRequest;
      let a: HostAnswer;
      try { a = await answer(q); } catch (e) { a = { error: (e as Error).message }; failed = true; log(`${q.op}: FAILED: ${(e as Error).message}`); }
      writeWhole(join(SHARE, f.replace('req-', 'res-')), JSON.stringify(a));
    }
    await sleep(100);
  }
} catch (e) {
  failed = true;
  log(`FAILED: ${(e as Error).message}`);
} finally {
  // h1's agent, then what outlives it by design (its engine), the controller, the namespaces.
  await stop(agent);
  engine.close();
  if (existsSync(`/run/netns/${NODE_NS}`)) {
    for (const pid of ip('netns', 'pids', NODE_NS).split('\n').filter(Boolean)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
  }
  api?.close();
  await stop(controller);
  for (const n of experimentNamespaces()) spawnSync('ip', ['netns', 'del', n]);
  spawnSync('ip', ['netns', 'del', NODE_NS]);
  spawnSync('ip', ['-n', NS, 'link', 'del', 'vmbr1']);
  if (failed) for (const l of agentLog.slice(-30)) log(`${HOST.node}: ${l}`);
  else log(`${HOST.node}'s agent: ${agentLog.length} log lines; refusals seen by it: ${agentLog.filter((l) => l.includes('refused')).length}`);
  rmSync(runDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
