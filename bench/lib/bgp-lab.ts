// The whole egress path for bench/bgp.ts: a controller (embedded store in
// memory, mutual TLS on a unix socket, certificates from the lab's own CA in
// its temporary directory) and two agents in this process (netns mode, as
// test/e2e/support.ts runs them), nodes "r1" (the slice's router) and "egr"
// (the egress node: its agent runs gobgpd) on an emulated underlay (a hub
// namespace with a bridge), and one BIRD 2 provider peering with "egr".
// Driven through the gRPC API only, as an aggregate manager (Links) and an
// operator (ListNodes, SetEgressNode) would, each with its certificate. Every
// namespace is "vb-…" and removed; gobgpd (which agents leave running on
// purpose, for the next agent to adopt) is stopped by its pid.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAgent } from '../../src/api/agent-client.js';
import { connect, type VispClient } from '../../src/api/client.js';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import { findGobgpd } from '../../src/bgp/speaker.js';
import { BirdProvider, poll, providerConfig, vethBetween } from './bgp-env.js';
import { benchPki } from './bench-pki.js';
import { log, now, settle } from './measure.js';
import { ipIn, removeNetns, scratchNetns, sh } from './scratch.js';

export interface LabTrial {
  /** Provision RPC sent → the slice's IPv4 public block in BIRD's table (s). */
  provisionToBird: number;
  /** Provision RPC sent → its answer (s). */
  provisionRpc: number;
  /** Delete RPC sent → the block gone from BIRD's table (s). */
  deleteToBird: number;
  deleteRpc: number;
}

const OUR_ASN = 64500;

class EgressLab {
  readonly uid = randomBytes(3).toString('hex');
  readonly dir = mkdtempSync(join(tmpdir(), 'vb-bgplab-'));
  readonly address = `unix:${join(this.dir, 'controller.sock')}`;
  readonly namespaces: string[] = [];
  readonly nodes: Array<{ name: string; ns: string; v4: string; v6: string }> = [];
  readonly logLines: string[] = [];
  ctl: ControllerHandle | undefined;
  /** The aggregate manager (Links). */
  api: VispClient | undefined;
  /** The operator (ListNodes, SetEgressNode). */
  op: VispClient | undefined;
  agents: Array<{ close(): Promise<void> }> = [];
  bird: BirdProvider | undefined;

  note(l: string): void { this.logLines.push(l); if (this.logLines.length > 300) this.logLines.shift(); }

  async start(): Promise<void> {
    const hub = scratchNetns('bghub');
    this.namespaces.push(hub);
    ipIn(hub, 'link', 'add', 'br0', 'type', 'bridge');
    ipIn(hub, 'link', 'set', 'br0', 'up');
    for (const [i, name] of ['r1', 'egr'].entries()) {
      const ns = scratchNetns(`bg${name}`);
      this.namespaces.push(ns);
      const n = { name, ns, v4: `198.18.0.${i + 1}`, v6: `2001:db8:ff00::${i + 1}` };
      ipIn(hub, 'link', 'add', `p${i + 1}`, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', ns);
      ipIn(hub, 'link', 'set', `p${i + 1}`, 'master', 'br0', 'up');
      ipIn(ns, 'addr', 'add', `${n.v4}/24`, 'dev', 'ul0');
      ipIn(ns, '-6', 'addr', 'add', `${n.v6}/64`, 'dev', 'ul0', 'nodad');
      ipIn(ns, 'link', 'set', 'ul0', 'up');
      this.nodes.push(n);
    }
    const egr = this.nodes[1]!.ns;
    const prov = scratchNetns('bgprov');
    this.namespaces.push(prov);
    vethBetween(egr, 'up0', ['198.18.1.1/30', '2001:db8:ff01::1/64'], prov, 'eg0', ['198.18.1.2/30', '2001:db8:ff01::2/64']);
    this.bird = new BirdProvider(prov, this.dir, 'prov', providerConfig({ asn: 64501, ourAsn: OUR_ASN, theirs: ['198.18.1.2', '2001:db8:ff01::2'], ours: ['198.18.1.1', '2001:db8:ff01::1'] }));

    const pki = await benchPki(join(this.dir, 'pki'), [
      { role: 'controller', name: 'controller' }, { role: 'am', name: 'bench' }, { role: 'operator', name: 'bench' },
      ...this.nodes.map((n) => ({ role: 'node' as const, name: n.name })),
    ]);
    this.ctl = await startController({
      listen: [{ address: this.address }], tls: pki.files('controller', 'controller'), storePath: ':memory:',
      ipam: { ...LAB_POOLS, cooldownMs: 0 }, log: (l) => this.note(`controller: ${l}`),
    });
    this.api = connect(this.address, pki.files('am', 'bench'));
    this.op = connect(this.address, pki.files('operator', 'bench'));
    for (const n of this.nodes) {
      this.agents.push(await startAgent({
        controller: this.address, node: n.name, tls: pki.files('node', n.name), netns: n.ns, underlay: [n.v4, n.v6], runDir: this.dir,
        log: (l) => this.note(`agent ${n.name}: ${l}`),
      }));
    }
    const op = this.op;
    await poll('both agents connected', async () => {
      const { nodes } = await op.operator.listNodes({});
      return this.nodes.every((n) => nodes.find((x) => x.name === n.name)?.connected);
    }, 30_000, 100);
    await op.operator.setEgressNode({
      config: {
        node: 'egr', asn: OUR_ASN, routerId: '198.18.1.1',
        providers: [
          { address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 10 },
          { address: '2001:db8:ff01::2', asn: 64501, families: ['ipv6'], maxPrefixes: 10 },
        ],
      },
    });
    const b = this.bird;
    await poll('BIRD sessions with the egress node Established', () => b.established('egress4', 'egress6'), 60_000, 200)
      .catch((e: Error) => { throw new Error(`${e.message}\n${this.logLines.slice(-15).join('\n')}\nBIRD: ${b.log.slice(-5).join('\n')}`); });
  }

  slice(t: number): string { return `bgpb${this.uid}t${t}`; }

  async waitReady(slice: string): Promise<void> {
    const api = this.api!;
    await poll(`${slice} ready`, async () => {
      const m = (await api.links.status({ slice })).manifest!;
      return m.operationalState === 'OPERATIONAL_STATE_READY' && m.slivers.every((s) => s.operationalState === 'OPERATIONAL_STATE_READY');
    }, 30_000, 50).catch((e: Error) => { throw new Error(`${e.message}\n${this.logLines.slice(-15).join('\n')}`); });
  }

  async trial(t: number): Promise<LabTrial> {
    const api = this.api!, bird = this.bird!;
    const slice = this.slice(t);
    const a = await api.links.allocate({
      slice,
      topology: {
        nodes: [{ id: 'r', node: 'r1' }],
        links: [{ id: 'up', members: [{ node: 'r' }], encapsulation: 'ENCAPSULATION_VXLAN', ipv4: { enabled: true }, egress: { node: 'egr', routes: 'EGRESS_ROUTES_DEFAULT' } }],
      },
    });
    const block = a.manifest!.blocks.find((b) => b.addressClass === 'ADDRESS_CLASS_PUBLIC' && !b.prefix.includes(':'))?.prefix;
    if (!block) throw new Error(`${slice}: no public IPv4 block in the manifest (${a.manifest!.blocks.map((b) => `${b.prefix} ${b.addressClass}`).join(', ')})`);
    if (await bird.has(block)) throw new Error(`${slice}: ${block} is at BIRD before Provision`);
    await settle();
    const t0 = now();
    const rpc = api.links.provision({ slice }).then(() => now());
    await poll(`${block} at BIRD after Provision`, () => bird.has(block), 30_000, 5)
      .catch((e: Error) => { throw new Error(`${e.message}\n${this.logLines.slice(-15).join('\n')}`); });
    const provisionToBird = now() - t0;
    const provisionRpc = (await rpc) - t0;
    await this.waitReady(slice);
    await settle();
    const t1 = now();
    const del = api.links.delete({ slice }).then(() => now());
    await poll(`${block} gone from BIRD after Delete`, async () => !(await bird.has(block)), 30_000, 5);
    const deleteToBird = now() - t1;
    const deleteRpc = (await del) - t1;
    // Let the teardown finish before the next trial (its experiment namespace goes).
    await poll(`${slice}'s namespaces gone`, () => !readdirSync('/run/netns').some((n) => n.startsWith(`visp-${slice}`)), 30_000, 50).catch(() => undefined);
    return { provisionToBird, provisionRpc, deleteToBird, deleteRpc };
  }

  async close(): Promise<void> {
    for (const a of this.agents) await a.close().catch(() => undefined);
    const pid = findGobgpd(join(this.dir, 'bgp-egr.sock'));
    if (pid !== undefined) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(20);
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    this.api?.close();
    this.op?.close();
    await this.ctl?.close().catch(() => undefined);
    await this.bird?.stop();
    // Experiment namespaces of our slices (their names carry our uid), if a teardown did not finish.
    let left: string[] = [];
    try { left = readdirSync('/run/netns').filter((n) => n.startsWith(`visp-bgpb${this.uid}`)); } catch { /* none */ }
    for (const n of left) { try { sh('ip', ['netns', 'del', n]); } catch { /* gone */ } }
    for (const ns of this.namespaces) removeNetns(ns);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One warm-up trial (not counted: first VXLAN, first table, first session use), then `trials` measured ones. */
export async function labTrials(trials: number): Promise<LabTrial[]> {
  const lab = new EgressLab();
  const out: LabTrial[] = [];
  const ms = (s: number): string => (s * 1000).toFixed(1);
  try {
    await lab.start();
    for (let t = 0; t <= trials; t++) {
      const r = await lab.trial(t);
      log(`  ${t === 0 ? 'warm-up' : `trial ${t}`}: Provision → BIRD ${ms(r.provisionToBird)} ms (RPC ${ms(r.provisionRpc)} ms); Delete → withdrawn at BIRD ${ms(r.deleteToBird)} ms (RPC ${ms(r.deleteRpc)} ms)`);
      if (t > 0) out.push(r);
    }
  } finally {
    await lab.close();
  }
  return out;
}
