// Egress nodes as the operator configures them (Operator.SetEgressNode,
// RemoveEgressNode, ListBgp) and as their speakers report: configurations
// are kept in the store and go to the node's agent in its desired state
// (egress.ts computes what it announces); a provider session changing state
// is an event. Mutations run on the node's queue.
import type { EgressStatus } from '../bgp/desired.js';
import { IncompatibleStateError, NotFoundError } from '../errors.js';
import { validateEgressConfig } from './egress.js';
import type { EgressConfig } from './model.js';
import { KEYS, type Records } from './persist.js';
import type { KeyedQueue } from './queue.js';
import type { ControllerState, Emit } from './state.js';

export interface EgressNodeView { node: string; connected: boolean; config: EgressConfig; status?: EgressStatus }

export interface EgressNodesDeps {
  state: ControllerState; records: Records; queue: KeyedQueue; emit: Emit;
  /** Sends a node's desired state to its agent. */
  push: (node: string) => void;
}

export class EgressNodes {
  private readonly state: ControllerState;
  private readonly d: EgressNodesDeps;

  constructor(deps: EgressNodesDeps) {
    this.d = deps;
    this.state = deps.state;
  }

  /** Configure (or reconfigure) an egress node: its ASN, router id, providers. */
  set(c: EgressConfig): Promise<EgressConfig> {
    validateEgressConfig(c);
    // A node that never registered is most likely a typo; its agent must have dialed in once.
    if (!this.state.nodes.has(c.node)) throw new NotFoundError(`config.node: no node "${c.node}" has registered; start its agent first (visp nodes lists them)`, { field: 'config.node' });
    return this.d.queue.run(`node/${c.node}`, async () => {
      await this.d.records.save(KEYS.egress(c.node), c);
      this.state.egress.set(c.node, c);
      this.d.emit('egress-configured', { node: c.node, message: `AS${c.asn} router id ${c.routerId}, providers ${c.providers.map((p) => `${p.address} (AS${p.asn})`).join(', ') || 'none'}` });
      this.d.push(c.node);
      return c;
    });
  }

  /** Stop egress on a node; refused while a slice still egresses through it. */
  remove(node: string): Promise<void> {
    return this.d.queue.run(`node/${node}`, async () => {
      if (!this.state.egress.has(node)) throw new NotFoundError(`config.node: node ${node} has no egress configured`, { field: 'config.node' });
      const users = [...this.state.slices.values()].filter((s) => s.state !== 'shutdown' && s.links.some((l) => l.egress?.node === node)).map((s) => s.slice);
      if (users.length) throw new IncompatibleStateError(`config.node: slices ${users.join(', ')} egress through ${node}; delete them first`, { field: 'config.node' });
      await this.d.records.removeAll([KEYS.egress(node)]);
      this.state.egress.delete(node);
      this.state.egressReports.delete(node);
      this.d.emit('egress-removed', { node, message: 'egress stopped' });
      this.d.push(node);
    });
  }

  /** Egress nodes with their configuration and what their speakers last reported. */
  list(node?: string): EgressNodeView[] {
    return [...this.state.egress.values()].filter((c) => !node || c.node === node).sort((a, b) => a.node.localeCompare(b.node)).map((c) => {
      const status = this.state.egressReports.get(c.node);
      return { node: c.node, connected: this.state.sessions.has(c.node), config: c, ...(status ? { status } : {}) };
    });
  }

  /** The egress part of an agent's report: kept for `list`, a provider session's change of state an event. */
  noteReport(node: string, status: EgressStatus | undefined): void {
    if (!status?.enabled) { this.state.egressReports.delete(node); return; }
    const before = this.state.egressReports.get(node);
    for (const p of status.peers) {
      const was = before?.peers.find((x) => x.address === p.address)?.state;
      if (was !== p.state) this.d.emit('bgp-peer', { node, state: p.state, message: `${p.address} (AS${p.asn}) ${was ?? 'new'} → ${p.state}` });
    }
    this.state.egressReports.set(node, status);
  }
}
