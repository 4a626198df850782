// What the controller and a connected agent exchange, as the controller sees
// it: the desired state it sends down, the dry-run plan it can ask for, and
// the transport's side of one session (the API layer implements it; tests
// give a fake one).
import type { EgressDesired } from '../bgp/desired.js';
import type { DesiredEndpoint } from './desired.js';
import type { Pacer } from '../ipam/pacer.js';

/** A slice to take down on a node: its links by group, then the namespaces visp made for it. */
export interface Teardown { slice: string; group: number; namespaces: string[] }
export interface DesiredState { generation: number; endpoints: DesiredEndpoint[]; teardowns: Teardown[]; egress?: EgressDesired }
export interface PlanReply { endpoints: Array<{ slice: string; link: string; steps: string[]; error?: string }> }

/** The transport's side of one connected agent (the API layer implements it). */
export interface AgentSession {
  /** Where the agent connects from (logs, events, refusals). */
  readonly peer: string;
  send(state: DesiredState): void;
  plan(endpoints: DesiredEndpoint[]): Promise<PlanReply>;
  /** Ends the stream, telling the agent why. */
  close(reason: string): void;
  /** send(), encoding a big state in stretches that give other callers turns (the controller uses it for big states). */
  sendPaced?(state: DesiredState, pace: Pacer): Promise<void>;
}
