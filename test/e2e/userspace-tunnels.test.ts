// Userspace tunnels end to end, through the gRPC API as an aggregate manager
// drives it, with the agents as real processes in their node namespaces
// (`visp agent` under nsenter: AgentProcesses in support.ts): a
// slice with an EtherIP link (no Linux driver) and a gretap link (this host
// has no ip_gre) is carried by each node's visp-engine.
// - Provision → READY, every member pings every other; ListTunnels says
//   dataplane "userspace".
// - An agent SIGKILLed and restarted during an iperf3 transfer: the transfer
//   never stalls (bytes in every 0.5 s interval), and the new agent adopts
//   the running engine (same pid) without recreating any tunnel.
// - An engine SIGKILLed: the agent starts a new one, re-sends the tunnels,
//   re-attaches the devices; ping resumes.
// - Delete leaves nothing: no visp object, no engine tunnel.
import { spawn } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import { capabilities } from '../../src/endpoint/node.js';
import { execIn, kernelSkipReason, sh } from '../helpers/netns.js';
import { AgentProcesses, baseline, ifindex, Lab, p2p, pingNeighbours, sleep, stripLen, tornDown, vispObjects, waitFor, type Manifest, type NsSnapshot } from './support.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

describe.skipIf(kernelSkipReason)('e2e: userspace tunnels (visp-engine) — ListTunnels, agent and engine killed under traffic, teardown', () => {
  const lab = new Lab('us', ['n1', 'n2'], { agents: [] });
  const agents = new AgentProcesses(lab);
  let before: Map<string, NsSnapshot>;
  let slice: string;
  let m: Manifest;
  let gretapUserspace = false;

  /** The engine of a node: an agent not in a named namespace names it by the namespace's inode. */
  const engineOf = (node: string): EngineProcess => new EngineProcess({ netns: `ns${statSync(`/run/netns/${lab.node(node).ns}`).ino}`, enter: false });
  const enginePid = async (node: string): Promise<number | undefined> => {
    const e = engineOf(node);
    const pid = (await e.adopt()) ? e.pid : undefined;
    e.release();
    return pid;
  };
  const engineTunnels = async (node: string): Promise<string[]> => {
    const e = engineOf(node);
    try { return (await e.adopt()) ? (await e.client.list()).tunnels.map((t) => t.name).sort() : []; } finally { e.release(); }
  };

  const endpointOf = (link: string, node: string): Manifest['slivers'][number]['endpoints'][number] =>
    m.slivers.find((s) => s.link === link)!.endpoints.find((e) => e.physicalNode === node)!;

  beforeAll(async () => {
    sh('bash', [`${REPO}/scripts/build-engine.sh`]);
    gretapUserspace = (await capabilities()).gretap.dataplane === 'userspace';
    await lab.start();
    await Promise.all(lab.nodes.map((n) => agents.start(n.name)));
    await lab.waitConnected(['n1', 'n2']);
    before = baseline(lab);
    slice = lab.slice('us');
  });
  afterAll(async () => {
    await agents.stopAll();
    for (const n of lab.nodes) {
      const e = engineOf(n.name);
      if (await e.adopt()) await e.stop();
      rmSync(e.logPath, { force: true });
    }
    await lab.close();
  });

  it('Provision: READY, ping across EtherIP and gretap; ListTunnels says dataplane userspace', async () => {
    const topology = {
      nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }],
      links: [
        p2p('eip', 'r1', 'r2', { encapsulation: 'ENCAPSULATION_ETHERIP' }),
        p2p('gt', 'r1', 'r2', { encapsulation: 'ENCAPSULATION_GRETAP', ipv6: null }),
      ],
    };
    await lab.api.links.allocate({ slice, topology });
    await lab.api.links.provision({ slice });
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 30_000);
    expect(await pingNeighbours(m)).toEqual([]);
    const { tunnels } = await lab.api.operator.listTunnels({ slice });
    expect(tunnels).toHaveLength(4);
    for (const t of tunnels) {
      const userspace = t.encapsulation === 'ENCAPSULATION_ETHERIP' || gretapUserspace;
      expect(t.dataplane, `${t.sliver} on ${t.node}`).toBe(userspace ? 'userspace' : 'kernel');
    }
    // Each node's engine holds that node's userspace tunnels, by the names the manifest gives.
    for (const n of ['n1', 'n2']) {
      const want = m.slivers.filter((s) => s.encapsulation === 'ENCAPSULATION_ETHERIP' || gretapUserspace)
        .flatMap((s) => s.endpoints.filter((e) => e.physicalNode === n).flatMap((e) => e.tunnels)).sort();
      expect(await engineTunnels(n)).toEqual(want);
    }
  });

  it('the agent SIGKILLed and restarted during an iperf3 transfer: data in every interval; the engine is adopted, nothing recreated', async () => {
    const a = endpointOf('eip', 'n1'), b = endpointOf('eip', 'n2');
    const ns1 = lab.node('n1').ns;
    const pid0 = await enginePid('n1');
    expect(pid0).toBeDefined();
    const taps = m.slivers.flatMap((s) => s.endpoints.filter((e) => e.physicalNode === 'n1').flatMap((e) => e.tunnels));
    const idx0 = taps.map((t) => ifindex(ns1, t));
    let logMark = 0;
    const srv = spawn('ip', ['netns', 'exec', b.netns, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    try {
      await waitFor('iperf3 server', () => /:5201\b/.test(execIn(b.netns, 'ss', '-ltnH')), 5000, 50);
      const client = spawn('ip', ['netns', 'exec', a.netns, 'iperf3', '-c', stripLen(b.addresses[0]!), '-t', '6', '-i', '0.5', '-J'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let outText = '';
      client.stdout!.on('data', (d: Buffer) => { outText += d.toString(); });
      const done = new Promise<number | null>((r) => client.once('exit', r));
      await sleep(1500);
      // What the new agent logs is what counts (the first one logged its build: "built: … create userspace …").
      logMark = agents.logs.get('n1')!.length;
      await agents.kill('n1', 'SIGKILL');
      lab.note('n1 agent killed');
      await agents.start('n1');
      await lab.waitConnected(['n1']);
      const code = await done;
      expect(code, outText.slice(-500)).toBe(0);
      const res = JSON.parse(outText) as { intervals: Array<{ sum: { bytes: number; start: number } }>; end: { sum_received: { bits_per_second: number } } };
      const bytes = res.intervals.map((i) => i.sum.bytes);
      console.log(`iperf3 across userspace EtherIP while n1's agent was killed and restarted: ${(res.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s; bytes per 0.5 s: ${bytes.join(' ')}`);
      expect(bytes.length).toBeGreaterThanOrEqual(11);
      expect(bytes.every((x) => x > 0)).toBe(true);
    } finally {
      srv.kill();
    }
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 30_000);
    await sleep(1200); // a couple of the new agent's periodic reconciles
    expect(await enginePid('n1')).toBe(pid0);
    expect(taps.map((t) => ifindex(ns1, t))).toEqual(idx0);
    expect(agents.logs.get('n1')!.slice(logMark).filter((l) => /repaired|create userspace/.test(l))).toEqual([]);
  });

  it('the engine SIGKILLed: the agent restarts it and re-sends the tunnels; ping resumes', async () => {
    for (const node of ['n2', 'n1']) {
      const pid = (await enginePid(node))!;
      const want = await engineTunnels(node);
      process.kill(pid, 'SIGKILL');
      await waitFor(`a new engine on ${node}`, async () => { const p = await enginePid(node); return p !== undefined && p !== pid; }, 20_000);
      await waitFor(`${node}'s tunnels re-sent`, async () => JSON.stringify(await engineTunnels(node)) === JSON.stringify(want), 20_000);
      m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 30_000);
      await waitFor(`ping across after ${node}'s engine restart`, async () => (await pingNeighbours(m)).length === 0, 20_000, 200);
    }
  });

  it('Delete leaves nothing: no visp object, no engine tunnel', async () => {
    await lab.api.links.delete({ slice });
    expect(await tornDown(lab, before)).toEqual([]);
    for (const n of lab.nodes) {
      expect(vispObjects(n.ns)).toEqual([]);
      expect(await engineTunnels(n.name)).toEqual([]);
    }
  });
});
