// The controller's memory, shared by its parts (slice verbs, agent sessions,
// egress, operator views, sweeper): what the store holds (slices, nodes,
// teardowns, egress configurations), read at start and kept in step with
// every commit; and what lives only while agents are connected (sessions,
// their reports). Which part changes what: slices, the generation and new
// teardowns, the slice verbs; nodes, sessions, reports, reserved namespaces
// and the removal of teardowns done, the agent sessions; egress
// configurations and reports, egress. Everyone reads.
import type { EgressStatus } from '../bgp/desired.js';
import type { Clock } from '../ipam/clock.js';
import { Pacer } from '../ipam/pacer.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import type { AgentSession, Teardown } from './agent-session.js';
import type { EgressConfig, Manifest, NodeRecord, SliceRecord } from './model.js';
import { manifestPaced, type NodeReport } from './status.js';
import { reservedBy, sum, type Reserved } from './admission.js';

export interface ControllerEvent {
  time: number;
  kind: string;
  slice?: string;
  link?: string;
  node?: string;
  state?: string;
  message: string;
}

/** Emits a controller event of `kind` (the time is added). */
export type Emit = (kind: string, e: Omit<ControllerEvent, 'time' | 'kind'>) => void;

export class ControllerState {
  readonly slices = new Map<string, SliceRecord>();
  readonly nodes = new Map<string, NodeRecord>();
  /** Per node, the slices it must still take down (kept until its agent reports them torn down). */
  readonly teardowns = new Map<string, Map<string, Teardown>>();
  readonly egress = new Map<string, EgressConfig>();
  readonly sessions = new Map<string, AgentSession>();
  readonly reports = new Map<string, NodeReport>();
  readonly egressReports = new Map<string, EgressStatus>();
  /** Per node, the namespaces its agent says no slice may use (its own, and every one visp did not create). */
  readonly reservedNs = new Map<string, string[]>();
  /** Guaranteed capacity being admitted (slice → what it reserves), until its commit makes it part of `slices` (admission.ts). */
  readonly admitting = new Map<string, Reserved>();
  /** Nodes whose agents are connected to another controller on the same store: their last shared report (observed.ts). */
  readonly remote = new Map<string, { report: NodeReport; at: number }>();
  /** How long another controller's shared report counts (0: never; set with several controllers). */
  remoteFreshMs = 0;
  ipamConfig: IpamConfigSpec | undefined;
  private gen = 0;

  constructor(private readonly clock: Clock) {}

  /** The latest generation: every desired state carries it, every change an agent must act on bumps it. */
  get generation(): number { return this.gen; }

  /** A generation read back from the store (start): later bumps go above it. */
  sawGeneration(g: number): void { this.gen = Math.max(this.gen, g); }

  /**
   * A new generation. Never below the clock: after a restart the newest
   * generation may be in no record (its slice was deleted), and one reused
   * would look already applied to an agent that reported it.
   */
  bump(): number {
    this.gen = Math.max(this.gen + 1, this.clock.now());
    return this.gen;
  }

  /** Connected here, or (several controllers) to another one whose report on the node is fresh. */
  readonly connected = (node: string): boolean => this.sessions.has(node) || this.remoteReport(node) !== undefined;

  /** Underlay capacity reserved by guaranteed links of every slice but `except`, committed or being admitted. */
  reservedExcept(except: string | undefined): Reserved {
    const committed = reservedBy([...this.slices.values()].filter((s) => s.slice !== except && s.state !== 'shutdown').flatMap((s) => s.links));
    return sum(committed, ...[...this.admitting].filter(([k]) => k !== except).map(([, r]) => r));
  }
  readonly report = (node: string): NodeReport | undefined => (this.sessions.has(node) ? this.reports.get(node) : this.remoteReport(node));

  private remoteReport(node: string): NodeReport | undefined {
    const r = this.remote.get(node);
    return r && this.clock.now() - r.at < this.remoteFreshMs ? r.report : undefined;
  }

  teardownsOf(node: string): Map<string, Teardown> {
    let m = this.teardowns.get(node);
    if (!m) { m = new Map(); this.teardowns.set(node, m); }
    return m;
  }

  /**
   * A slice's manifest, built in paced stretches: a 10,000-link slice's is
   * about 100 ms of work, which must not hold the loop other callers share.
   */
  manifest(s: SliceRecord, pace: Pacer = new Pacer()): Promise<Manifest> {
    return manifestPaced(s, this.connected, this.report, pace);
  }
}
