// Several controllers on one etcd store: an agent is connected to one of
// them, but Status and the operator's views are asked of any. The controller
// an agent is connected to shares what the agent last reported as
// `visp/observed/<node>`: at once when an endpoint's state changes, and as a
// heartbeat every HEARTBEAT_MS while the agent stays (so counters others
// show are up to that old). The
// others take it in (follow.ts) and count the node as connected while the
// record is fresh (STALE_MS): a controller that died stops its heartbeats,
// and its nodes show disconnected until their agents are on another.
import type { Clock } from '../ipam/clock.js';
import type { Records } from './persist.js';
import type { ControllerState, Emit } from './state.js';
import type { EndpointReport, NodeReport } from './status.js';

export const HEARTBEAT_MS = 2000;
export const STALE_MS = 3 * HEARTBEAT_MS;
export const observedKey = (node: string): string => `visp/observed/${node}`;

/** As stored: the report's endpoint states, when, and by which controller. */
export interface Observed { generation: number; at: number; by: string; endpoints: EndpointReport[] }

export class SharedReports {
  /** Per node, what was last written (its fingerprint and when). */
  private readonly written = new Map<string, { print: string; at: number }>();
  private readonly writing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: { state: ControllerState; records: Records; clock: Clock; emit: Emit; identity: string }) {}

  start(): void {
    this.timer = setInterval(() => { for (const node of this.d.state.sessions.keys()) this.share(node); }, HEARTBEAT_MS / 2);
    this.timer.unref();
  }

  stop(): void { if (this.timer) clearInterval(this.timer); }

  /** A node's report changed here (or its heartbeat is due): write it if its states changed or the last write is getting old. */
  share(node: string): void {
    const r = this.d.state.reports.get(node);
    if (!r || this.writing.has(node)) return;
    const endpoints = [...r.endpoints.values()];
    // A change of state is written at once; counters ride along with the heartbeat.
    const print = JSON.stringify([r.generation, endpoints.map((e) => [e.slice, e.link, e.state, e.error])]);
    const now = this.d.clock.now();
    const last = this.written.get(node);
    if (last && last.print === print && now - last.at < HEARTBEAT_MS) return;
    this.writing.add(node);
    const value: Observed = { generation: r.generation, at: now, by: this.d.identity, endpoints };
    this.d.records.save(observedKey(node), value).then(
      () => { this.written.set(node, { print, at: now }); },
      // Another controller wrote it last (the agent moved here): the watch brings its revision; the next beat succeeds.
      () => undefined,
    ).finally(() => this.writing.delete(node));
  }

  /** Another controller's record of a node (from the store), or its removal. */
  take(node: string, o: Observed | undefined): void {
    if (!o || o.by === this.d.identity) return;
    const report: NodeReport = { generation: o.generation, at: o.at, endpoints: new Map(o.endpoints.map((e) => [`${e.slice}/${e.link}`, e])) };
    this.d.state.remote.set(node, { report, at: o.at });
  }
}
