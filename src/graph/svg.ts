// The picture as SVG: self-contained (colours as presentation attributes, no
// stylesheet or script), so it can be opened as a file, embedded in the
// controller's page, or diffed. Every link and router is a <g> with data-*
// attributes (data-link, data-state, data-router) so a page, a test or a
// script can find them; a <title> in each is the tooltip with the details.
import { layout, ROUTER_RADIUS, type Edge, type Point } from './layout.js';
import { fullLabel, stateColour, type GraphLink, type GraphView } from './view.js';

/** Text and attribute values, escaped for XML. */
export function xml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

const FONT = 'font-family="sans-serif"';

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${xml(String(v))}"`).join('');
}

/** A stopped link is dashed (it is down on purpose); every other state is a solid line in its colour. */
const dash = (state: string): string | undefined => (state === 'stopped' ? '6 4' : undefined);

function curve(e: Edge): string {
  return `M ${e.from.x} ${e.from.y} Q ${e.ctrl.x} ${e.ctrl.y} ${e.to.x} ${e.to.y}`;
}

function linkTitle(l: GraphLink, v: GraphView): string {
  const node = (id: string): string => v.routers.find((r) => r.id === id)?.node ?? '?';
  const lines = [
    `${l.id}: ${l.encapsulation}, ${l.state}${l.error ? ` (${l.error})` : ''}`,
    ...l.ends.map((e) => `  ${e.router} @${node(e.router)}: ${e.state}${e.error ? ` (${e.error})` : ''}`),
  ];
  if (l.rtt) lines.push(`  rtt p50 ${l.rtt.p50Ms} ms${l.rtt.p99Ms !== undefined ? `, p99 ${l.rtt.p99Ms} ms` : ''}`);
  return lines.join('\n');
}

function label(at: Point, text: string, extra: Record<string, string | number> = {}): string {
  // A white halo under the text keeps it readable where it crosses a line.
  return `<text${attrs({ x: at.x, y: at.y, 'text-anchor': 'middle', 'dominant-baseline': 'middle', 'font-size': 11, stroke: '#ffffff', 'stroke-width': 3, 'paint-order': 'stroke', fill: '#333333', ...extra })} ${FONT}>${xml(text)}</text>`;
}

export function renderSvg(v: GraphView): string {
  const L = layout(v);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg"${attrs({ viewBox: `0 0 ${L.width} ${L.height}`, width: L.width, height: L.height, role: 'img', 'data-slice': v.slice, 'data-state': v.state, 'aria-label': `slice ${v.slice} topology` })}>`);
  out.push(`<title>${xml(`slice ${v.slice}: ${v.state}, ${v.routers.length} routers, ${v.links.length} links`)}</title>`);
  out.push(`<rect x="0" y="0"${attrs({ width: L.width, height: L.height })} fill="#ffffff"/>`);
  out.push(`<text x="12" y="26" font-size="16" font-weight="bold" ${FONT}>${xml(`slice ${v.slice}`)}</text>`);
  out.push(`<text x="${L.width - 12}" y="26" font-size="13" text-anchor="end"${attrs({ fill: stateColour(v.state) })} ${FONT}>${xml(v.state)}</text>`);

  // Links under the routers.
  for (const l of v.links) {
    const edges = L.edges.filter((e) => e.link === l.id);
    const lan = l.ends.length !== 2;
    out.push(`<g${attrs({ class: lan ? 'link lan' : 'link', 'data-link': l.id, 'data-state': l.state, 'data-encapsulation': l.encapsulation, ...(l.rtt ? { 'data-rtt-ms': l.rtt.p50Ms } : {}) })}>`);
    out.push(`<title>${xml(linkTitle(l, v))}</title>`);
    for (const e of edges) {
      // A LAN's spokes each show that member's state; a point-to-point link shows the link's.
      const state = lan ? l.ends.find((x) => x.router === e.router)?.state ?? l.state : l.state;
      out.push(`<path${attrs({ d: curve(e), fill: 'none', stroke: stateColour(state), 'stroke-width': 3, 'stroke-linecap': 'round', 'stroke-dasharray': dash(state), 'data-state': state, 'data-router': e.router })}/>`);
    }
    const hub = L.hubs.get(l.id);
    if (hub) out.push(`<circle${attrs({ cx: hub.x, cy: hub.y, r: 6, fill: stateColour(l.state), stroke: '#ffffff', 'stroke-width': 2 })}/>`);
    const at = hub ? { x: hub.x, y: hub.y + 16 } : edges[0]?.label;
    if (at) out.push(label(at, fullLabel(l)));
    out.push('</g>');
  }

  for (const r of v.routers) {
    const p = L.routers.get(r.id)!;
    out.push(`<g${attrs({ class: r.egress ? 'router egress' : 'router', 'data-router': r.id, 'data-node': r.node })}>`);
    out.push(`<title>${xml(r.egress ? `egress to the Internet on node ${r.node}` : `router ${r.id} on node ${r.node}`)}</title>`);
    if (r.egress) {
      const s = ROUTER_RADIUS * 1.4;
      out.push(`<polygon${attrs({ points: `${p.x},${p.y - s} ${p.x + s},${p.y} ${p.x},${p.y + s} ${p.x - s},${p.y}`, fill: '#eef4ff', stroke: '#1f4e9c', 'stroke-width': 2 })}/>`);
    } else {
      out.push(`<circle${attrs({ cx: p.x, cy: p.y, r: ROUTER_RADIUS, fill: '#f5f5f5', stroke: '#333333', 'stroke-width': 2 })}/>`);
    }
    out.push(`<text${attrs({ x: p.x, y: p.y, 'text-anchor': 'middle', 'dominant-baseline': 'middle', 'font-size': r.egress ? 10 : 12, 'font-weight': 'bold', fill: '#111111' })} ${FONT}>${xml(r.egress ? 'egress' : r.id)}</text>`);
    out.push(label({ x: p.x, y: p.y + ROUTER_RADIUS * (r.egress ? 1.4 : 1) + 11 }, r.node, { 'font-size': 10, fill: '#555555' }));
    out.push('</g>');
  }

  // Legend: the states this picture shows, in a fixed order.
  const shown = [...new Set(v.links.flatMap((l) => [l.state, ...l.ends.map((e) => e.state)]))].sort(byStateOrder);
  let x = 12;
  const y = L.height - 18;
  out.push('<g class="legend">');
  for (const s of shown) {
    out.push(`<line${attrs({ x1: x, y1: y, x2: x + 22, y2: y, stroke: stateColour(s), 'stroke-width': 3, 'stroke-dasharray': dash(s) })}/>`);
    out.push(`<text${attrs({ x: x + 28, y, 'dominant-baseline': 'middle', 'font-size': 11, fill: '#333333' })} ${FONT}>${xml(s)}</text>`);
    x += 40 + s.length * 7;
  }
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const ORDER = ['ready', 'configuring', 'pending', 'degraded', 'failed', 'down', 'stopped'];
function byStateOrder(a: string, b: string): number {
  const i = (s: string): number => (ORDER.includes(s) ? ORDER.indexOf(s) : ORDER.length);
  return i(a) - i(b) || a.localeCompare(b);
}
