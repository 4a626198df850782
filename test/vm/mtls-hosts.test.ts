// Proof on separate kernels (issue 11), the guest side: the controller runs
// on the host (`visp controller`, test/vm/mtls-host.ts, started by lane.sh)
// and is reached over TCP with mutual TLS; node vm1's agent (`visp agent`,
// given only the controller's address and vm1's certificate) runs here, in
// the VM's own kernel and root namespace; node h1's agent runs in a
// namespace of the host. This file is the aggregate manager (and operator):
// a slice with a gretap link (the Debian kernel's gretap here, visp-engine
// on the host, which has no ip_gre) and a VXLAN link (kernel on both) comes
// up READY and pings both ways over IPv4 and IPv6; an agent here holding
// another node's certificate, posing as h1, is refused all along (from
// before vm1 connects until after the slice is up) and changes nothing;
// Delete leaves nothing here or on the host. (Both agents here start at
// once: under TCG each takes tens of seconds to start.) What only the host can see (pings from h1,
// h1's leftovers, the audit log, the engine) it answers over the share.
// Runs only when the lane runs the host side (VISP_VM_MTLS=1).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { ANCHOR } from '../../src/bridge/anchor.js';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type VispClient } from '../../src/api/client.js';
import type { Manifest__Output as Manifest } from '../../src/api/gen/visp/v1/Manifest.js';
import type { WatchEventsResponse__Output as Event } from '../../src/api/gen/visp/v1/WatchEventsResponse.js';
import type { Topology } from '../../src/api/gen/visp/v1/Topology.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { waitFor } from '../helpers/wait.js';
import { CONTROLLER, GUEST, HOST, MTLS_DIR, OTHER_NODE, PREFIX_LEN, writeWhole, type HostAnswer, type HostReady, type HostRequest } from './mtls-net.js';

const SHARE = join(process.env.VISP_VM_OUT ?? '/run/vmout', MTLS_DIR);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const VISP = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const skip = process.env.VISP_VM_MTLS === '1' ? undefined : 'the lane runs no host side for it (VISP_VM_MTLS=1: network mode with this file selected)';
if (skip) console.warn(`SKIP: ${skip}`);

const sh = (cmd: string, ...a: string[]): string => {
  const r = spawnSync(cmd, a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
};
const stripLen = (cidr: string): string => cidr.split('/')[0]!;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function pingFrom(netns: string, dst: string, count = 3): Promise<boolean> {
  return new Promise((resolve) => {
    spawn('ip', ['netns', 'exec', netns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '2', dst], { stdio: 'ignore' }).on('exit', (c) => resolve(c === 0));
  });
}

/** The guest's root namespace (node vm1) as teardown must leave it: links, FDB entries, routes of every table. */
function snapshot(): string[] {
  // The node's anchor bridge is the node's: made with its first VXLAN link and kept (src/bridge/anchor.ts).
  const links = (JSON.parse(sh('ip', '-d', '-j', 'link', 'show')) as Array<Record<string, any>>).filter((l) => l.ifname !== ANCHOR)
    .map((l) => `link ${l.ifname} ${l.linkinfo?.info_kind ?? l.link_type}${String(l.ifalias ?? '').startsWith('visp:') ? ` (${l.ifalias})` : ''}`);
  const fdb = (JSON.parse(sh('bridge', '-j', 'fdb', 'show')) as Array<Record<string, any>>).filter((e) => e.ifname !== ANCHOR).map((e) => `fdb ${e.mac} ${e.ifname ?? ''} ${e.dst ?? ''}`);
  const routes = ['-4', '-6'].flatMap((f) => sh('ip', f, 'route', 'show', 'table', 'all').split('\n').filter(Boolean).map((r) => `route ${r}`));
  return [...links, ...fdb, ...routes].sort();
}

/**
 * A daemon's log record (JSON lines, src/log.ts) as "TIME MESSAGE", the form
 * the checks below read; a line that is not a record is kept as it is.
 */
function asLine(l: string): string {
  try {
    const r = JSON.parse(l) as { time?: string; msg?: string };
    if (typeof r.time === 'string' && typeof r.msg === 'string') return `${r.time} ${r.msg}`;
  } catch { /* not a record */ }
  return l;
}

/** `visp agent` here, its stderr kept. */
class AgentProcess {
  readonly log: string[] = [];
  readonly proc: ChildProcess;
  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', VISP, 'agent', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let partial = '';
    this.proc.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      this.log.push(...lines.filter(Boolean).map(asLine));
    });
  }
  get exited(): boolean { return this.proc.exitCode !== null || this.proc.signalCode !== null; }
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await Promise.race([gone, sleep(10_000).then(() => this.proc.kill('SIGKILL'))]);
    await gone;
  }
}

describe.skipIf(skip)('separate kernels: controller on the host over TCP + mTLS, agent vm1 in this VM, agent h1 in a host namespace', () => {
  let ready: HostReady;
  let api: VispClient;
  let vm1: AgentProcess | undefined;
  let impostor: AgentProcess | undefined;
  let before: string[];
  let m: Manifest;
  let readyAt = 0;
  let n = 0;
  /** The controller's events from before the agents here start until the end (node-connected, -disconnected, …). */
  const events: Event[] = [];
  let stopEvents = (): void => undefined;
  const nodeEvents = (): string[] => events.filter((e) => e.kind.startsWith('node-')).map((e) => `${e.kind} @${e.node}: ${e.message}`);
  const refusals = (): string[] => impostor?.log.filter((l) => l.includes('controller refused this agent')) ?? [];
  const file = (p: string): string => join(SHARE, p);
  const tlsOf = (who: { cert: string; key: string }): TlsFiles => ({ ca: file(ready.files.ca), cert: file(who.cert), key: file(who.key) });
  /** The flags of an agent here: the controller, a node certificate, and a name to claim (default: the certificate's). */
  const agentArgs = (certOf: string, claim?: string): string[] => {
    const t = tlsOf(ready.files.nodes[certOf]!);
    return ['--controller', ready.controller, '--tls-ca', t.ca, '--tls-cert', t.cert, '--tls-key', t.key, '--reconcile-interval', '1s', ...(claim ? ['--node', claim] : [])];
  };
  const experimentNamespaces = (): string[] => readdirSync('/run/netns').filter((x) => x.startsWith(`visp-${ready.slice}:`));
  const endpoint = (link: string, node: string) => m.slivers.find((s) => s.link === link)!.endpoints.find((e) => e.physicalNode === node)!;

  /** Ask the host side; its answer, or its error thrown. */
  async function ask(q: HostRequest, ms = 120_000): Promise<HostAnswer> {
    const id = ++n;
    writeWhole(file(`req-${id}.json`), JSON.stringify(q));
    const res = file(`res-${id}.json`);
    await waitFor(`the host side's answer to ${q.op}`, () => existsSync(res), ms, 100);
    const a = JSON.parse(readFileSync(res, 'utf8')) as HostAnswer;
    if (a.error) throw new Error(`host side, ${q.op}: ${a.error}`);
    return a;
  }

  beforeAll(async () => {
    mkdirSync(SHARE, { recursive: true });
    writeWhole(file('guest-started'), '');
    console.log(`kernels: guest ${release()}, host ${process.env.VISP_HOST_KERNEL ?? '?'}`);
    // The second virtio NIC (qemu's vmtap1), found by its MAC; the modules an agent loads (probing its capabilities or
    // building links), loaded now: ip_gre and ip6_gre add their fallback devices (gre0, gretap0, erspan0, ip6gre0,
    // ip6tnl0) to this namespace as they load, part of the baseline, not leftovers.
    sh('/sbin/modprobe', '-a', 'virtio_net', 'ip_gre', 'ip6_gre', 'vxlan', 'bridge', 'veth');
    let nic = '';
    await waitFor('the second NIC', () => {
      nic = (JSON.parse(sh('ip', '-j', 'link', 'show')) as Array<{ ifname: string; address?: string }>).find((l) => l.address === GUEST.mac)?.ifname ?? '';
      return nic !== '';
    }, 20_000);
    sh('ip', 'addr', 'add', `${GUEST.v4}/${PREFIX_LEN}`, 'dev', nic);
    sh('ip', 'link', 'set', nic, 'up');
    ready = await (async () => {
      await waitFor('the host side (mtls/host-ready.json)', () => existsSync(file('host-ready.json')), 180_000, 200);
      return JSON.parse(readFileSync(file('host-ready.json'), 'utf8')) as HostReady;
    })();
    console.log(`host side up after ${ready.upS.toFixed(1)} s: controller ${ready.controller}, slice ${ready.slice}`);
    const am = connect(ready.controller, tlsOf(ready.files.am));
    const op = connect(ready.controller, tlsOf(ready.files.operator));
    api = { links: am.links, operator: op.operator, close: () => { am.close(); op.close(); } };
    await waitFor(`link-local on ${nic}`, () => sh('ip', '-6', 'route', 'show', 'table', 'local').includes(`local fe80:`) &&
      sh('ip', '-6', 'addr', 'show', 'dev', nic).includes('scope link'), 20_000);
    before = snapshot();
    const stream = api.operator.watchEvents({ slice: '', node: '' });
    const reader = (async () => { try { for await (const e of stream) events.push(e); } catch { /* cancelled */ } })();
    stopEvents = () => { stream.cancel(); void reader; };

    // vm1's agent with vm1's certificate; the impostor with vm2's, claiming h1's name, with this host's address as its
    // underlay (the attack of issue 11: take over another node's desired state and cut its agent off).
    const t0 = Date.now();
    vm1 = new AgentProcess(agentArgs(GUEST.node));
    impostor = new AgentProcess(agentArgs(OTHER_NODE, HOST.node));
    await waitFor('vm1 connected and the impostor refused', async () => {
      for (const [who, a] of [['vm1', vm1!], ['the impostor', impostor!]] as const) {
        if (a.exited) throw new Error(`${who}'s agent exited: ${a.log.slice(-5).join(' | ')}`);
      }
      return refusals().length > 0 && (await api.operator.listNodes({})).nodes.some((x) => x.name === GUEST.node && x.connected);
    }, 240_000, 500);
    console.log(`vm1's agent (a process in this VM) connected to the host's controller ${secs(Date.now() - t0)} after its start`);
  }, 480_000);

  afterAll(async () => {
    try {
      // A test that failed half-way: the slice goes, so neither side keeps anything.
      if (api && ready && (await api.operator.listSlices({})).slices.some((s) => s.slice === ready.slice)) {
        await api.links.delete({ slice: ready.slice }).catch(() => undefined);
        await waitFor('teardown here', () => experimentNamespaces().length === 0, 30_000).catch(() => undefined);
      }
    } catch { /* the controller is gone */ }
    stopEvents();
    await impostor?.stop();
    await vm1?.stop();
    api?.close();
    for (const x of ready ? experimentNamespaces() : []) spawnSync('ip', ['netns', 'del', x]);
    try { writeWhole(file('guest-done'), ''); } catch { /* share gone */ }
  }, 120_000);

  it('both agents are connected to the host\'s controller over TCP with mTLS, each with its own kernel\'s underlay address', async () => {
    expect(ready.controller).toBe(`${CONTROLLER.v4}:${CONTROLLER.port}`);
    const { nodes } = await api.operator.listNodes({});
    const by = (name: string) => nodes.find((x) => x.name === name);
    expect(by(GUEST.node)).toMatchObject({ connected: true, underlayAddresses: [GUEST.v4] });
    // Named by its certificate; its underlay by the route to the controller (this VM has two NICs: the interop's is the other).
    expect(vm1!.log.join('\n')).toMatch(new RegExp(`underlay: ${GUEST.v4.replaceAll('.', '\\.')} on \\S+ \\(the source address toward the controller ${CONTROLLER.v4.replaceAll('.', '\\.')}\\)`));
    expect(by(HOST.node)).toMatchObject({ connected: true, underlayAddresses: [HOST.v4] });
    // The impostor (running, refused) is not there under any name.
    expect(nodes.map((x) => x.name).sort()).toEqual([HOST.node, GUEST.node]);
    const { nodes: res } = await api.links.listResources({});
    for (const name of [GUEST.node, HOST.node]) {
      expect(res.find((x) => x.name === name)?.encapsulations, name).toEqual(expect.arrayContaining(['ENCAPSULATION_GRETAP', 'ENCAPSULATION_VXLAN']));
    }
  });

  it('a slice across the kernels comes up: gretap (kernel here, visp-engine on the host) and VXLAN ping both ways, IPv4 and IPv6', async () => {
    const dual = { ipv4: { enabled: true }, ipv6: { enabled: true } };
    const topology: Topology = {
      nodes: [{ id: 'r1', node: GUEST.node }, { id: 'r2', node: HOST.node }],
      links: [
        { id: 'gt', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_GRETAP' as const, ...dual },
        { id: 'vx', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_VXLAN' as const, ...dual },
      ],
    };
    await api.links.allocate({ slice: ready.slice, topology });
    const t0 = Date.now();
    await api.links.provision({ slice: ready.slice });
    await waitFor(`${ready.slice} READY`, async () => {
      m = (await api.links.status({ slice: ready.slice })).manifest!;
      return m.operationalState === 'OPERATIONAL_STATE_READY' && m.slivers.every((s) => s.operationalState === 'OPERATIONAL_STATE_READY');
    }, 120_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; last: ${m?.slivers.map((s) => `${s.link}=${s.operationalState}${s.error ? ` (${s.error})` : ''}`).join(' ')}\nvm1: ${vm1!.log.slice(-10).join('\n')}`);
    });
    readyAt = Date.now();
    const readyMs = readyAt - t0;
    const gt = endpoint('gt', GUEST.node);
    const firstPing = await waitFor('the first ping across gretap', () => pingFrom(gt.netns, stripLen(endpoint('gt', HOST.node).addresses[0]!), 1), 60_000, 0)
      .then(() => Date.now() - t0);
    console.log(`slice up across kernels: Provision → READY ${secs(readyMs)}, → first ping across gretap ${secs(firstPing)}`);

    // Who carries what: the kernel here, the engine for gretap on the host.
    const { tunnels } = await api.operator.listTunnels({ slice: ready.slice });
    expect(tunnels.map((t) => `${t.link}@${t.node} ${t.dataplane}`).sort()).toEqual(
      [`gt@${GUEST.node} kernel`, `gt@${HOST.node} userspace`, `vx@${GUEST.node} kernel`, `vx@${HOST.node} kernel`].sort());
    // And this kernel holds them: a gretap with the sliver's key towards h1, a VXLAN with its VNI.
    const here = JSON.parse(sh('ip', '-d', '-j', 'link', 'show')) as Array<Record<string, any>>;
    for (const s of m.slivers) {
      const ep = endpoint(s.link, GUEST.node);
      expect(ep.underlayAddress).toBe(GUEST.v4);
      expect(ep.remotes).toEqual([HOST.v4]);
      for (const t of ep.tunnels) {
        const dev = here.find((l) => l.ifname === t)!;
        expect(dev.ifalias, t).toBe(`visp:${s.id}`);
        if (s.link === 'gt') {
          expect(dev.linkinfo.info_kind).toBe('gretap');
          expect(dev.linkinfo.info_data).toMatchObject({ local: GUEST.v4, remote: HOST.v4 });
        } else {
          expect(dev.linkinfo.info_kind).toBe('vxlan');
          expect(dev.linkinfo.info_data.id).toBe(s.key);
        }
      }
    }

    // Every address of the other side, from each side (the host's pings answered by the host side).
    const guestPings = m.slivers.flatMap((s) => endpoint(s.link, HOST.node).addresses.map((a) => ({ link: s.link, netns: endpoint(s.link, GUEST.node).netns, dst: stripLen(a) })));
    const hostPings = m.slivers.flatMap((s) => endpoint(s.link, GUEST.node).addresses.map((a) => ({ link: s.link, netns: endpoint(s.link, HOST.node).netns, dst: stripLen(a) })));
    expect(guestPings).toHaveLength(4);
    const fromHere = await Promise.all(guestPings.map(async (p) => ({ ...p, ok: await pingFrom(p.netns, p.dst) })));
    expect(fromHere.filter((p) => !p.ok).map((p) => `${p.link}: vm1 → ${p.dst}`)).toEqual([]);
    const fromHost = (await ask({ op: 'ping', pings: hostPings.map(({ netns, dst }) => ({ netns, dst })) })).pings!;
    expect(fromHost).toHaveLength(4);
    expect(fromHost.filter((p) => !p.ok).map((p) => `h1 ${p.netns} → ${p.dst}`)).toEqual([]);
    // The gretap on the host side is visp-engine's, and it carried the traffic.
    const eng = (await ask({ op: 'engine' })).engine!;
    console.log(`h1's engine: ${eng.xdp ?? 'no fast path'}; ${eng.tunnels.map((t) => `${t.kind} ${t.name} tx ${t.txPackets} rx ${t.rxPackets}`).join(', ')}`);
    expect(eng.tunnels.map((t) => t.kind)).toEqual(['gretap']);
    expect(eng.tunnels[0]!.txPackets).toBeGreaterThanOrEqual(6);
    expect(eng.tunnels[0]!.rxPackets).toBeGreaterThanOrEqual(6);
  });

  it('an agent here with another node\'s certificate (vm2) posing as h1 is refused all along: PERMISSION_DENIED, nothing changes', async () => {
    expect(readyAt, 'the slice is up').toBeGreaterThan(0);
    // It retries every ~5 s: wait for a refusal while the slice is up, then stop it.
    const since = (line: string): number => Date.parse(line.split(' ')[0]!);
    await waitFor('a refusal while the slice is up', () => refusals().some((l) => since(l) > readyAt), 30_000, 200);
    await impostor!.stop();
    const seen = refusals();
    console.log(`the impostor was refused ${seen.length} times; the last: ${seen.at(-1)}`);
    for (const l of seen) expect(l).toMatch(/refused this agent: PERMISSION_DENIED: register\.node: this certificate is for node vm2; it may not register as "h1"$/);
    // It never got in: h1 and vm1 are as they were, vm2 is nowhere, and no node came or went meanwhile.
    const { nodes } = await api.operator.listNodes({});
    expect(nodes.map((x) => ({ name: x.name, connected: x.connected, underlay: x.underlayAddresses })).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: HOST.node, connected: true, underlay: [HOST.v4] }, { name: GUEST.node, connected: true, underlay: [GUEST.v4] },
    ]);
    const dots = (a: string): string => a.replaceAll('.', '\\.');
    const ev = nodeEvents();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatch(new RegExp(`^node-connected @${GUEST.node}: underlay ${dots(GUEST.v4)} from ${dots(GUEST.v4)}:\\d+$`));
    // The controller on the host recorded each attempt, with the identity it presented and where it came from: this VM.
    const denied = (await ask({ op: 'audit' })).audit!.filter((r) => r.verb === 'Agent.Connect' && r.code === 'PERMISSION_DENIED');
    expect(denied.length).toBeGreaterThanOrEqual(seen.length);
    for (const r of denied) {
      expect(r).toMatchObject({ identity: `spiffe://visp.test/node/${OTHER_NODE}`, role: 'node', node: HOST.node });
      expect(r.peer).toContain(GUEST.v4);
    }
    // The real h1 was never cut off: the slice is READY and carries traffic.
    expect((await api.links.status({ slice: ready.slice })).manifest!.operationalState).toBe('OPERATIONAL_STATE_READY');
    expect(await Promise.all(['gt', 'vx'].map((l) => pingFrom(endpoint(l, GUEST.node).netns, stripLen(endpoint(l, HOST.node).addresses[0]!))))).toEqual([true, true]);
  });

  it('Delete leaves nothing in this VM or on the host', async () => {
    expect(m, 'the slice is up').toBeDefined();
    await api.links.delete({ slice: ready.slice });
    const end = Date.now() + 60_000;
    await waitFor('teardown in the VM', () => experimentNamespaces().length === 0 && snapshot().join('\n') === before.join('\n'), 60_000, 200)
      .catch(() => undefined);
    const now = snapshot();
    expect([...now.filter((x) => !before.includes(x)).map((x) => `extra ${x}`), ...before.filter((x) => !now.includes(x)).map((x) => `missing ${x}`),
      ...experimentNamespaces().map((x) => `experiment namespace ${x}`)]).toEqual([]);
    expect((await ask({ op: 'leftovers', waitMs: Math.max(5000, end - Date.now()) })).leftovers).toEqual([]);
    expect((await api.operator.listTunnels({ slice: ready.slice })).tunnels).toEqual([]);
    expect((await api.operator.listSlices({})).slices.map((s) => s.slice)).not.toContain(ready.slice);
  });
});
