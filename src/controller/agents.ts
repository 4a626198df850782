// Agent sessions: a node's agent registers (one at a time per node), gets its
// node's desired state now and after every change that concerns the node,
// and reports what it observed; a teardown stays in the node's desired state
// until its agent reports it done. Node-level mutations run on the node's
// queue.
import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError } from '../errors.js';
import type { Clock } from '../ipam/clock.js';
import type { EgressStatus } from '../bgp/desired.js';
import type { AgentSession, DesiredState } from './agent-session.js';
import { endpointCount, endpointsFor, endpointsForPaced } from './desired.js';
import { Pacer } from '../ipam/pacer.js';
import { egressDesiredFor, maxLengthFor } from './egress.js';
import type { NodeRecord } from './model.js';
import { KEYS, type Records } from './persist.js';
import { checkUnderlayMtus, type PlacementNode } from './place.js';
import type { KeyedQueue } from './queue.js';
import type { ControllerState, Emit } from './state.js';
import type { EndpointReport } from './status.js';
import { ID } from './validate.js';

/** How long a connected agent has to answer before a second connection for its node may replace it. */
export const LIVENESS_MS = 3000;
/** A node's desired state with at least this many endpoints is built and sent in paced stretches. */
const PACED_PUSH_FROM = 500;

/** What an agent tells the controller when it registers. */
export interface Registration {
  node: string; underlay: string[]; capabilities: NodeRecord['capabilities']; reservedNamespaces?: string[]; underlayMtu?: Record<string, number>;
  /** What it can shape links with, and what its underlay carries for guaranteed links (docs/links.md). */
  shapers?: NodeRecord['shapers']; underlayCapacity?: number;
}

/** One report of an agent: what it observed after a reconcile. */
export interface AgentReport {
  generation: number; endpoints: EndpointReport[]; repairs: string[]; tornDown: string[]; egress?: EgressStatus; reservedNamespaces?: string[];
}

export interface AgentHubDeps { state: ControllerState; records: Records; queue: KeyedQueue; clock: Clock; emit: Emit }

export class AgentHub {
  private readonly state: ControllerState;
  private readonly d: AgentHubDeps;
  /** Per node, the paced push in flight, and whether another is due after it. */
  private readonly pushing = new Map<string, { again: boolean }>();

  constructor(deps: AgentHubDeps) {
    this.d = deps;
    this.state = deps.state;
  }

  /**
   * An agent registered: remember the node, then send its desired state.
   * One agent per node at a time, deliberately: while the connected agent
   * answers (a plan round trip within LIVENESS_MS), a second connection for
   * the same node is refused (ALREADY_EXISTS), so two agents never mix; when
   * it does not answer (its host died without closing the stream), the new
   * connection replaces it and the old stream is closed with the reason.
   * An underlay address that links on this node use may not disappear.
   */
  async connected(reg: Registration, session: AgentSession): Promise<void> {
    if (!ID.test(reg.node)) throw new InvalidSpecError(`register.node: ${JSON.stringify(reg.node)} is not a node name`, { field: 'node' });
    let replaced: AgentSession | undefined;
    await this.d.queue.run(`node/${reg.node}`, async () => {
      const old = this.state.sessions.get(reg.node);
      if (old && old !== session) {
        if (await answers(old)) {
          throw new AlreadyExistsError(`register.node: node ${reg.node} already has a connected agent (from ${old.peer}) that answers; stop it before starting another`, { field: 'node' });
        }
        replaced = old;
      }
      const inUse = this.underlayInUse(reg.node).filter((a) => !reg.underlay.includes(a));
      if (inUse.length) {
        throw new IncompatibleStateError(`register.underlay_addresses: links on node ${reg.node} use ${inUse.join(', ')}, which this agent does not offer (${reg.underlay.join(', ') || 'none'}); restore the address or delete those slices`, { field: 'underlay_addresses' });
      }
      const rec: PlacementNode = {
        name: reg.node, underlay: reg.underlay, capabilities: reg.capabilities,
        ...(reg.shapers?.length ? { shapers: reg.shapers } : {}), ...(reg.underlayCapacity ? { underlayCapacity: reg.underlayCapacity } : {}),
        lastSeen: this.d.clock.now(), ...checkUnderlayMtus(reg.underlay, reg.underlayMtu),
      };
      await this.d.records.save(KEYS.node(reg.node), rec);
      this.state.nodes.set(reg.node, rec);
      this.state.sessions.set(reg.node, session);
      this.state.reports.delete(reg.node);
      if (reg.reservedNamespaces) this.state.reservedNs.set(reg.node, reg.reservedNamespaces);
    });
    if (replaced) {
      replaced.close(`replaced by a new connection for node ${reg.node} from ${session.peer} (this one did not answer within ${LIVENESS_MS} ms)`);
      this.d.emit('node-replaced', { node: reg.node, message: `the agent at ${replaced.peer} did not answer; ${session.peer} replaces it` });
    }
    this.d.emit('node-connected', { node: reg.node, message: `underlay ${reg.underlay.join(', ')} from ${session.peer}` });
    this.push(reg.node);
  }

  /** Underlay addresses of `node` that links placed there use. */
  private underlayInUse(node: string): string[] {
    const used = new Set<string>();
    for (const s of this.state.slices.values()) {
      if (s.state === 'shutdown') continue;
      for (const l of s.links) for (const e of l.endpoints) if (e.physicalNode === node) used.add(e.underlay);
    }
    return [...used];
  }

  disconnected(node: string, session: AgentSession): void {
    if (this.state.sessions.get(node) !== session) return; // a newer session replaced it
    this.state.sessions.delete(node);
    const n = this.state.nodes.get(node);
    if (n) n.lastSeen = this.d.clock.now();
    this.d.emit('node-disconnected', { node, message: 'agent stream closed' });
  }

  /**
   * An agent's report (its egress part is egress-nodes.ts's): endpoint state
   * changes and repairs become events; the teardowns it reports done leave
   * the node's desired state, and the store.
   */
  async report(node: string, r: AgentReport): Promise<void> {
    if (r.reservedNamespaces) this.state.reservedNs.set(node, r.reservedNamespaces);
    const prev = this.state.reports.get(node);
    const n = this.state.nodes.get(node);
    if (n) n.lastSeen = this.d.clock.now();
    // A big node's report (thousands of endpoints, each a possible state event) is taken in paced stretches;
    // the new report replaces the old one whole, once read.
    const pace = new Pacer();
    const byLink = new Map<string, EndpointReport>();
    await pace.each(r.endpoints, (e) => { byLink.set(`${e.slice}/${e.link}`, e); });
    this.state.reports.set(node, { generation: r.generation, endpoints: byLink, at: this.d.clock.now() });
    // Events after the report is in: a listener that reads Status sees what the event says.
    await pace.each(r.endpoints, (e) => {
      const before = prev?.endpoints.get(`${e.slice}/${e.link}`);
      if (before?.state !== e.state || before?.error !== e.error) {
        this.d.emit('state', { slice: e.slice, link: e.link, node, state: e.state, message: e.error ?? e.state });
      }
    });
    for (const line of r.repairs) this.d.emit('repair', { node, message: line, ...sliceOfRepair(line) });
    if (r.tornDown.length) {
      await this.d.queue.run(`node/${node}`, async () => {
        const mine = this.state.teardownsOf(node);
        const done = [...new Set(r.tornDown)].filter((slice) => mine.has(slice));
        await this.d.records.removeAll(done.map((slice) => KEYS.teardown(node, slice)));
        for (const slice of done) mine.delete(slice);
      });
    }
  }

  /** A node's desired state: the endpoints of every provisioned slice there, the teardowns it still owes, its egress. */
  desiredState(node: string): DesiredState {
    const c = this.state.egress.get(node);
    return {
      generation: this.state.generation, endpoints: endpointsFor(node, this.state.slices.values()), teardowns: [...this.state.teardownsOf(node).values()],
      ...(c ? { egress: egressDesiredFor(c, this.state.slices.values(), maxLengthFor(c, this.state.ipamConfig)) } : {}),
    };
  }

  /** Sends each node's desired state to its agent, if one is connected. */
  pushAll(nodes: readonly string[]): void { for (const n of nodes) this.push(n); }

  /**
   * Sends a node its desired state. A small one goes at once; a big one (a
   * node of a 10,000-link slice) is built and encoded in paced stretches.
   * One push per node at a time, in order: pushes asked for meanwhile become
   * one more, with the state as it is then (an agent only needs the latest).
   */
  push(node: string): void {
    const session = this.state.sessions.get(node);
    if (!session) return;
    const running = this.pushing.get(node);
    if (running) { running.again = true; return; }
    if (!session.sendPaced || endpointCount(node, this.state.slices.values()) < PACED_PUSH_FROM) { session.send(this.desiredState(node)); return; }
    const run = { again: false };
    this.pushing.set(node, run);
    void (async () => {
      try {
        do {
          run.again = false;
          const s = this.state.sessions.get(node);
          if (!s) break;
          const pace = new Pacer();
          const state = await this.desiredStatePaced(node, pace);
          await (s.sendPaced ? s.sendPaced(state, pace) : s.send(state));
        } while (run.again);
      } catch (e) {
        this.d.emit('error', { node, message: `desired state for ${node}: ${(e as Error).message}` });
      } finally {
        this.pushing.delete(node);
      }
    })();
  }

  private async desiredStatePaced(node: string, pace: Pacer): Promise<DesiredState> {
    const c = this.state.egress.get(node);
    const endpoints = await endpointsForPaced(node, this.state.slices.values(), pace);
    return {
      generation: this.state.generation, endpoints, teardowns: [...this.state.teardownsOf(node).values()],
      ...(c ? { egress: egressDesiredFor(c, this.state.slices.values(), maxLengthFor(c, this.state.ipamConfig)) } : {}),
    };
  }
}

/** Whether a session answers a no-op plan in time. */
async function answers(s: AgentSession): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), LIVENESS_MS); });
  try {
    return await Promise.race([s.plan([]).then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Repairs are reported as "slice/link: what was done (now <state>)". */
function sliceOfRepair(line: string): { slice?: string; link?: string; state?: string } {
  const m = /^([^/\s]+)\/([^:\s]+): /.exec(line);
  // The agent ends each line with the state the repair left: "(now ready)".
  const state = / \(now (ready|failed|stopped|configuring)\)$/.exec(line)?.[1];
  return { ...(m ? { slice: m[1]!, link: m[2]! } : {}), ...(state ? { state } : {}) };
}
