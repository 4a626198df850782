// Lab mode end to end, as a user runs it: `lab up` on the triangle example
// builds the underlay, starts the controller and agents, submits the slice;
// every experiment namespace then reaches its neighbours; `lab down` leaves
// no namespace, process or file. A broken topology fails with the field
// named and leaves nothing either. Runs the built CLI (dist/), like the demo.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../../src/errors.js';
import { crashAgent, labDir, labDown, labStatus, labUp, readState, restartAgents, type LabUpResult } from '../../src/lab/index.js';
import { labTls, writeState } from '../../src/lab/state.js';
import { connect } from '../../src/api/client.js';
import { kernelSkipReason } from '../helpers/netns.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const ENTRY = join(ROOT, 'dist/src/cli/main.js');
const skip = kernelSkipReason ?? (existsSync(ENTRY) ? undefined : 'lab tests run the built CLI: build first (bash scripts/build.sh)');
if (skip && !kernelSkipReason) console.warn(`SKIP: ${skip}`);

const lab = (tag: string): string => `t${tag}${randomBytes(2).toString('hex')}`;
const labs = new Set<string>();
afterAll(async () => { for (const l of labs) await labDown(l).catch(() => {}); });

const netnsOf = (name: string): string[] => {
  let all: string[] = [];
  try { all = readdirSync('/run/netns'); } catch { /* none */ }
  return all.filter((n) => n === `vl-${name}` || n.startsWith(`vl-${name}-`) || n.startsWith(`visp-${name}:`));
};
const processesOf = (name: string): string[] =>
  spawnSync('pgrep', ['-af', labDir(name)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);

function ping(ns: string, addr: string): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', ...(addr.includes(':') ? ['-6'] : []), '-c', '2', '-i', '0.2', '-W', '2', addr], { encoding: 'utf8' });
  return r.status === 0;
}

function expectNothingLeft(name: string): void {
  expect(netnsOf(name)).toEqual([]);
  expect(processesOf(name)).toEqual([]);
  expect(existsSync(labDir(name))).toBe(false);
}

describe.skipIf(skip)('lab mode', () => {
  it('up on examples/triangle.yaml: every experiment namespace pings its neighbours; down leaves nothing', async () => {
    const name = lab('tri');
    labs.add(name);
    const lines: string[] = [];
    const r: LabUpResult = await labUp(join(ROOT, 'examples/triangle.yaml'), { name, progress: (l) => lines.push(l) });
    expect(lines.some((l) => /links: 3\/3 ready/.test(l))).toBe(true);
    expect(r.manifest.slivers).toHaveLength(3);
    expect(r.tunnels).toHaveLength(6);
    expect(r.state.experimentNetns.sort()).toEqual([`visp-${name}:r1`, `visp-${name}:r2`, `visp-${name}:r3`]);

    // Every endpoint reaches every other endpoint of its link, on each family the link has.
    const failures: string[] = [];
    let v6 = 0;
    for (const s of r.manifest.slivers) {
      for (const from of s.endpoints) {
        for (const to of s.endpoints) {
          if (to === from) continue;
          for (const cidr of to.addresses) {
            const addr = cidr.split('/')[0]!;
            if (addr.includes(':')) v6++;
            if (!ping(from.netns, addr)) failures.push(`${s.link}: ${from.node} → ${to.node} ${addr}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(v6).toBeGreaterThan(0); // the triangle's r1-r2 is dual stack

    const st = await labStatus(name);
    expect(st.controller.answering).toBe(true);
    expect(st.nodes.map((n) => [n.name, n.running, n.connected])).toEqual([['n1', true, true], ['n2', true, true], ['n3', true, true]]);

    // The CLI sees the same lab from a fresh process.
    const out = execFileSync(process.execPath, [ENTRY, 'tunnels', '--slice', name, '--controller', r.state.controller], { encoding: 'utf8' });
    expect(out.split('\n').filter((l) => l.startsWith(`${name}/`))).toHaveLength(6);

    // A second slice allocated through the lab's controller (any AM could): down removes it too.
    const other = `${name}-other`;
    const am = connect(r.state.controller, labTls(r.state, 'am'));
    try {
      await am.links.allocate({ slice: other, topology: { nodes: [{ id: 'a', node: 'n1' }, { id: 'b', node: 'n2' }], links: [{ id: 'ab', members: [{ node: 'a' }, { node: 'b' }] }] } });
      await am.links.provision({ slice: other });
      const end = Date.now() + 30_000;
      while ((await am.links.status({ slice: other })).manifest!.operationalState !== 'OPERATIONAL_STATE_READY' && Date.now() < end) await new Promise((res) => setTimeout(res, 100));
    } finally {
      am.close();
    }
    const otherNs = (): string[] => readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${other}:`));
    expect(otherNs()).toHaveLength(2);

    const down = await labDown(name);
    labs.delete(name);
    expect(down.deleted).toBe(true);
    expect(down.stopped).toHaveLength(2); // the agent host (every node's agent) and the controller
    expect(otherNs(), 'the other slice\'s namespaces').toEqual([]);
    expectNothingLeft(name);
  }, 180_000);

  it('agents share one host process: one node\'s agent crashes and the others keep their streams and links; the host SIGKILLed leaves every link carrying traffic and a new host adopts it all', async () => {
    const name = lab('host');
    labs.add(name);
    const r = await labUp(join(ROOT, 'examples/triangle.yaml'), { name });
    const hostPid = r.state.pids.agentHost!;
    expect(processesOf(name).filter((l) => / lab agents /.test(l))).toHaveLength(1);
    // What the kernel holds: every visp interface on the nodes, with its index (a rebuild changes it).
    const built = (): string[] => r.state.nodes.flatMap((n) => execFileSync('ip', ['-n', n.netns, '-o', 'link', 'show'], { encoding: 'utf8' })
      .split('\n').filter((l) => /alias visp:/.test(l)).map((l) => `${n.name}:${/^(\d+): ([^:@]+)/.exec(l)!.slice(1).join(' ')}`)).sort();
    const before = built();
    expect(before.length).toBeGreaterThanOrEqual(9);
    const allPing = (): string[] => r.manifest.slivers.flatMap((s) => s.endpoints.flatMap((from) => s.endpoints.filter((to) => to !== from)
      .flatMap((to) => to.addresses.map((c) => c.split('/')[0]!).filter((a) => !ping(from.netns, a)).map((a) => `${s.link}: ${from.node} → ${a}`))));
    const op = connect(r.state.controller, labTls(r.state, 'operator'));
    const connected = async (): Promise<string[]> => (await op.operator.listNodes({})).nodes.filter((n) => n.connected).map((n) => n.name).sort();
    const until = async (what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> => {
      const end = Date.now() + ms;
      while (!(await ok())) { if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`); await new Promise((res) => setTimeout(res, 100)); }
    };
    const log = (): string => readFileSync(join(r.state.dir, 'agents.log'), 'utf8');
    try {
      // One node's agent crashes: the controller sees it go, the others stay connected, every link still carries traffic.
      crashAgent(name, 'n1');
      await until('n1 disconnected', async () => !(await connected()).includes('n1'), 5000);
      expect(await connected()).toEqual(['n2', 'n3']);
      expect(allPing()).toEqual([]);
      await until('n1 back', async () => (await connected()).length === 3);
      expect(built()).toEqual(before);
      expect(log()).toMatch(/n1: agent crashed \(SIGUSR2\); restarting it/);

      // The whole host killed: the links are the kernel's and keep carrying traffic.
      process.kill(hostPid, 'SIGKILL');
      await until('every agent disconnected', async () => (await connected()).length === 0, 10_000);
      expect(allPing()).toEqual([]);
      const logged = log().length;
      await restartAgents(name);
      expect(readState(name).pids.agentHost).not.toBe(hostPid);
      expect(await connected()).toEqual(['n1', 'n2', 'n3']);
      await new Promise((res) => setTimeout(res, 1500)); // a reconcile on every node
      // Adopted: nothing rebuilt, no step taken.
      expect(built()).toEqual(before);
      expect(log().slice(logged)).not.toMatch(/ (built|adopted|repaired): /);
      expect(allPing()).toEqual([]);
    } finally {
      op.close();
    }
    await labDown(name);
    labs.delete(name);
    expectNothingLeft(name);
  }, 180_000);

  it('up on examples/egress.yaml: BIRD providers, sessions up, the experiment reaches both providers\' hosts (IPv4 and IPv6); down stops gobgpd and BIRD too', async () => {
    const name = lab('egr');
    labs.add(name);
    const lines: string[] = [];
    const r = await labUp(join(ROOT, 'examples/egress.yaml'), { name, progress: (l) => lines.push(l) });
    expect(lines).toContain('bgp: 4/4 sessions established');
    const exp = `visp-${name}:r1`;
    const hosts = (r.state.providers ?? []).flatMap((p) => [p.host.ipv4, p.host.ipv6]);
    expect(hosts).toHaveLength(4);
    // The slice's announcement and the provider routes take a moment after Provision.
    const deadline = Date.now() + 15_000;
    const reached = (): string[] => hosts.filter((h) => ping(exp, h));
    while (reached().length < hosts.length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 300));
    expect(reached()).toEqual(hosts);
    const bgp = execFileSync(process.execPath, [ENTRY, 'bgp', '--controller', r.state.controller], { encoding: 'utf8' });
    expect(bgp.match(/ established /g)).toHaveLength(4);
    expect(processesOf(name).some((l) => l.includes('gobgpd'))).toBe(true);

    // The agent host (the egress node's agent among the others) SIGKILLed and
    // started again: gobgpd lives on and is adopted; the providers see no flap (BIRD's route for the slice's block
    // keeps its timestamp, the sessions their "since").
    const block = r.manifest.blocks.find((b) => b.addressClass === 'ADDRESS_CLASS_PUBLIC' && !b.prefix.includes(':'))!.prefix;
    const birdc = (p: { control: string }, ...a: string[]): string => spawnSync('birdc', ['-s', p.control, ...a], { encoding: 'utf8' }).stdout;
    const seen = (): string[] => (r.state.providers ?? []).flatMap((p) => [
      /\[egress4 ([^\]]+)\]/.exec(birdc(p, 'show', 'route', block, 'all'))?.[1] ?? 'no route',
      /egress4\s+BGP\s+\S+\s+up\s+(.+?)\s+Established/.exec(birdc(p, 'show', 'protocols'))?.[1] ?? 'not established',
    ]);
    const before = seen();
    expect(before.filter((x) => x === 'no route' || x === 'not established')).toEqual([]);
    const gobgpd = processesOf(name).filter((l) => l.includes('gobgpd'));
    const e1 = r.state.nodes.find((n) => n.name === 'e1')!;
    process.kill(r.state.pids.agentHost!, 'SIGKILL');
    await new Promise((res) => setTimeout(res, 500));
    await restartAgents(name);
    await new Promise((res) => setTimeout(res, 4000)); // connect, adopt, a reconcile or two
    expect(processesOf(name).filter((l) => l.includes('gobgpd'))).toEqual(gobgpd);
    expect(seen()).toEqual(before);
    expect(hosts.filter((h) => ping(exp, h))).toEqual(hosts);
    // The egress node forgets its neighbours (they expire on their own within
    // seconds): replies from the providers must still find the experiment, so
    // the egress node resolves it again (it needs an IPv6 link-local source on
    // its end of the link to solicit it).
    execFileSync('ip', ['-n', e1.netns, 'neigh', 'flush', 'all']);
    execFileSync('ip', ['-n', e1.netns, '-6', 'neigh', 'flush', 'all']);
    expect(hosts.filter((h) => ping(exp, h))).toEqual(hosts);

    const down = await labDown(name);
    labs.delete(name);
    expect(down.stopped.filter((s) => /^(gobgpd|provider) /.test(s))).toHaveLength(3);
    expectNothingLeft(name);
  }, 180_000);

  it('a topology error names the field and the line, and creates nothing', async () => {
    const name = lab('bad');
    const dir = mkdtempSync(join(tmpdir(), 'visp-lab-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, readFileSync(join(ROOT, 'examples/triangle.yaml'), 'utf8').replace('endpoints: [r3, r1]', 'endpoints: [r3, r9]'));
      const err = await labUp(file, { name }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidSpecError);
      expect((err as InvalidSpecError).field).toBe('links[2].endpoints[1]');
      expect((err as Error).message).toMatch(/bad\.yaml:\d+:\d+: links\[2\]\.endpoints\[1\]: unknown node "r9"/);
      expectNothingLeft(name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a request the controller refuses fails with the field named, and everything started is removed', async () => {
    const name = lab('ref');
    labs.add(name);
    const dir = mkdtempSync(join(tmpdir(), 'visp-lab-'));
    try {
      // Valid YAML, but the explicit address is outside the slice's address block: refused at Allocate,
      // after the underlay, the controller and the agents are up.
      const file = join(dir, 'outside.yaml');
      writeFileSync(file, 'name: x\nnodes: { a: n1, b: n2 }\nlinks:\n  - endpoints: [{ node: a, ipv4: 198.51.100.7 }, b]\n');
      const lines: string[] = [];
      const err = await labUp(file, { name, progress: (l) => lines.push(l) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: unknown }).code).toBe(3); // INVALID_ARGUMENT
      // The controller's field, placed in the file (see placeRefusal).
      expect((err as { details: string }).details).toMatch(/^\S*outside\.yaml:4:\d+: links\[0\]\.(endpoints\[0\]\.)?ipv4: .*198\.51\.100\.7/);
      expect(lines.some((l) => l.startsWith('agents: 2/2 connected'))).toBe(true);
      expect(lines.some((l) => l.startsWith('cleaning up'))).toBe(true);
      expectNothingLeft(name);
      labs.delete(name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
