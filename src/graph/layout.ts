// Where things go on the picture: routers on a circle in the view's order (a
// ring topology reads as a ring, and the same view always gives the same
// picture), a LAN as a hub at its members' centre, parallel links between
// the same two routers bowed apart. Deterministic and dependency-free: an
// operator's slice is tens to a few hundred routers, where a circle stays
// readable and a force or layered layout engine would be a large dependency
// for little.
import type { GraphView } from './view.js';

export interface Point { x: number; y: number }

/** A point-to-point link's curve (a quadratic Bézier through `ctrl`), or one spoke of a LAN from its hub to a member. */
export interface Edge {
  link: string;
  /** For a LAN spoke: the member router. */
  router?: string;
  from: Point;
  to: Point;
  ctrl: Point;
  /** Where the link's label sits (the curve's middle; the hub for a LAN). */
  label: Point;
}

export interface Layout {
  width: number;
  height: number;
  /** Top band for the title. */
  top: number;
  routers: Map<string, Point>;
  /** LAN id → its hub. */
  hubs: Map<string, Point>;
  edges: Edge[];
}

export const ROUTER_RADIUS = 20;
const MARGIN = 90;          // room for router and link labels outside the circle
const TITLE = 40;
const LEGEND = 36;
const SPACING = 70;         // arc length per router
const BOW = 30;             // distance between parallel links at their middle
const STAGGER = 30;         // parallel links' labels also step along the link, so that they do not overlap

const round = (v: number): number => Math.round(v * 10) / 10;
const pt = (x: number, y: number): Point => ({ x: round(x), y: round(y) });

export function layout(v: GraphView): Layout {
  const n = v.routers.length;
  const radius = n <= 1 ? 0 : Math.max(110, (n * SPACING) / (2 * Math.PI));
  const size = 2 * (radius + MARGIN);
  const c = { x: size / 2, y: TITLE + size / 2 };
  const routers = new Map<string, Point>();
  v.routers.forEach((r, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    routers.set(r.id, pt(c.x + radius * Math.cos(a), c.y + radius * Math.sin(a)));
  });
  const at = (id: string): Point => routers.get(id) ?? pt(c.x, c.y);

  const hubs = new Map<string, Point>();
  const taken: Point[] = [...routers.values()];
  const edges: Edge[] = [];
  // Parallel point-to-point links: how many per pair, and which of them each is.
  const pairKey = (a: string, b: string): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);
  const perPair = new Map<string, number>();
  for (const l of v.links) if (l.ends.length === 2) perPair.set(pairKey(l.ends[0]!.router, l.ends[1]!.router), (perPair.get(pairKey(l.ends[0]!.router, l.ends[1]!.router)) ?? 0) + 1);
  const seen = new Map<string, number>();

  for (const l of v.links) {
    if (l.ends.length === 2) {
      const [a, b] = [l.ends[0]!.router, l.ends[1]!.router];
      const k = pairKey(a, b);
      const i = seen.get(k) ?? 0;
      seen.set(k, i + 1);
      // Orient by the pair's sorted order, so that the bows of a pair's links fan out on both sides consistently.
      const [p, q] = a < b ? [at(a), at(b)] : [at(b), at(a)];
      const rank = i - ((perPair.get(k) ?? 1) - 1) / 2;
      const offset = rank * BOW;
      const mid = { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
      const len = Math.hypot(q.x - p.x, q.y - p.y) || 1;
      const along = { x: (q.x - p.x) / len, y: (q.y - p.y) / len };
      const normal = { x: -along.y, y: along.x };
      // A quadratic Bézier's middle is halfway between the chord's middle and the control point.
      const ctrl = pt(mid.x + 2 * offset * normal.x, mid.y + 2 * offset * normal.y);
      edges.push({ link: l.id, from: at(a), to: at(b), ctrl, label: pt(mid.x + offset * normal.x + rank * STAGGER * along.x, mid.y + offset * normal.y + rank * STAGGER * along.y) });
      continue;
    }
    const members = l.ends.map((e) => at(e.router));
    let hub = members.length
      ? { x: members.reduce((s, p) => s + p.x, 0) / members.length, y: members.reduce((s, p) => s + p.y, 0) / members.length }
      : { x: c.x, y: c.y };
    // Two LANs (or a LAN and a router) at the same spot would hide each other: step down until free.
    for (let tries = 0; tries < 50 && taken.some((t) => Math.hypot(t.x - hub.x, t.y - hub.y) < ROUTER_RADIUS * 1.5); tries++) hub = { x: hub.x + 9, y: hub.y + 27 };
    const h = pt(hub.x, hub.y);
    hubs.set(l.id, h);
    taken.push(h);
    for (const e of l.ends) {
      const to = at(e.router);
      edges.push({ link: l.id, router: e.router, from: h, to, ctrl: pt((h.x + to.x) / 2, (h.y + to.y) / 2), label: h });
    }
  }
  return { width: round(size), height: round(TITLE + size + LEGEND), top: TITLE, routers, hubs, edges };
}
