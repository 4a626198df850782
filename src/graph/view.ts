// What a picture of a slice shows, as plain data: routers (on their physical
// nodes) and links (their encapsulation, state, each member's state, and the
// round-trip time when link health is measured). The renderers (svg.ts,
// dot.ts, mermaid.ts) are pure functions of this view; where it comes from
// (the controller's Manifest here, the API's in the CLI) is an adapter's job.
import { EGRESS_MEMBER, type Manifest } from '../controller/model.js';

export interface GraphRouter {
  /** The topology's router id ("r1"), or egressRouterId(node) for an egress link's far end. */
  id: string;
  /** The physical node it runs on. */
  node: string;
  /** The egress node's end of an egress link: the way out to the Internet. */
  egress?: boolean;
}

export interface GraphEnd {
  /** A GraphRouter id. */
  router: string;
  state: string;
  error?: string;
}

/** Round-trip time across a link, when link health is probed (absent: not measured). */
export interface LinkRtt { p50Ms: number; p99Ms?: number }

export interface GraphLink {
  id: string;
  /** The kernel's word: vxlan, gre, gretap, etherip, … */
  encapsulation: string;
  /** The link's state (the worst of its ends'): ready, configuring, failed, … and, with health probing, degraded or down. */
  state: string;
  error?: string;
  /** Two: point-to-point; more: a LAN. */
  ends: GraphEnd[];
  rtt?: LinkRtt;
}

export interface GraphView {
  slice: string;
  state: string;
  routers: GraphRouter[];
  links: GraphLink[];
}

/** One colour per state, the same in every format; a state not listed here is drawn grey. */
export const STATE_COLOURS: Readonly<Record<string, string>> = {
  ready: '#2ca02c',
  configuring: '#e6a100',
  pending: '#e6a100',
  degraded: '#ff7f0e',
  failed: '#d62728',
  down: '#d62728',
  stopped: '#7f7f7f',
};
export const UNKNOWN_COLOUR = '#7f7f7f';

export const stateColour = (state: string): string => STATE_COLOURS[state] ?? UNKNOWN_COLOUR;

/** Router ids are topology ids (no ':'), so an egress end's id never clashes with one. */
export const egressRouterId = (node: string): string => `egress:${node}`;

/** One probed pair's RTT, as every source has it (the controller's reports, the API's PathHealth). */
export interface PairRtt { alive: boolean | undefined; rttP50Ms?: number | undefined; rttP99Ms?: number | undefined }

/**
 * A link's RTT from its probed pairs (every end's, every member pair of a
 * LAN): the slowest answering pair's p50 and the largest p99, so the label
 * never hides a slow member. Undefined when no pair answers.
 */
export function linkRtt(pairs: readonly PairRtt[]): LinkRtt | undefined {
  const up = pairs.filter((p) => p.alive && p.rttP50Ms !== undefined);
  if (!up.length) return undefined;
  return { p50Ms: Math.max(...up.map((p) => p.rttP50Ms!)), p99Ms: Math.max(...up.map((p) => p.rttP99Ms ?? p.rttP50Ms!)) };
}

/** Per link id, its RTT from the tunnels of one slice (each with its link and its pairs). */
export function linkRtts(tunnels: ReadonlyArray<{ link: string; pairs: readonly PairRtt[] }>): Map<string, LinkRtt> {
  const byLink = new Map<string, PairRtt[]>();
  for (const t of tunnels) byLink.set(t.link, [...(byLink.get(t.link) ?? []), ...t.pairs]);
  const out = new Map<string, LinkRtt>();
  for (const [link, pairs] of byLink) { const r = linkRtt(pairs); if (r) out.set(link, r); }
  return out;
}

/** A link's label: its encapsulation, and its RTT when measured ("vxlan 0.21 ms"). */
export function linkLabel(l: GraphLink): string {
  return l.rtt ? `${l.encapsulation} ${formatMs(l.rtt.p50Ms)}` : l.encapsulation;
}

/** The label drawn on a link in every format: "r1r2: vxlan 0.21 ms". */
export const fullLabel = (l: GraphLink): string => `${l.id}: ${linkLabel(l)}`;

export function formatMs(ms: number): string {
  return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/**
 * The view of a controller manifest. Routers appear in the order their links
 * first name them (a ring drawn as a ring), each once.
 */
export function graphFromManifest(m: Manifest, rtt: ReadonlyMap<string, LinkRtt> = new Map()): GraphView {
  const routers = new Map<string, GraphRouter>();
  const links: GraphLink[] = m.slivers.map((s) => {
    const ends = s.endpoints.map((e) => {
      const egress = e.node === EGRESS_MEMBER;
      const id = egress ? egressRouterId(e.physicalNode) : e.node;
      if (!routers.has(id)) routers.set(id, { id, node: e.physicalNode, ...(egress ? { egress: true } : {}) });
      return { router: id, state: e.state, ...(e.error ? { error: e.error } : {}) };
    });
    const r = rtt.get(s.link.id);
    return { id: s.link.id, encapsulation: s.link.kind, state: s.state, ...(s.error ? { error: s.error } : {}), ends, ...(r ? { rtt: r } : {}) };
  });
  return { slice: m.slice, state: m.state, routers: [...routers.values()], links };
}
