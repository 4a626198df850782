// The picture as Graphviz DOT text (`visp graph SLICE --format dot | dot
// -Tpng`): Graphviz does its own layout; we give it the routers, the links in
// their state colours with their labels, and a LAN as a point-shaped hub node.
import { fullLabel, stateColour, type GraphView } from './view.js';

/** A DOT double-quoted string: backslash and quote escaped, newlines as Graphviz's \n. */
export function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

const attrList = (a: Record<string, string | number>): string =>
  `[${Object.entries(a).map(([k, v]) => `${k}=${typeof v === 'number' ? v : dotString(v)}`).join(', ')}]`;

/** A LAN's hub node; router ids have no ':', so it is never a router's. */
export const lanHubId = (link: string): string => `lan:${link}`;

export function renderDot(v: GraphView): string {
  const out: string[] = [];
  out.push(`graph ${dotString(v.slice)} {`);
  out.push(`  graph ${attrList({ label: `slice ${v.slice}: ${v.state}`, labelloc: 't', fontname: 'sans-serif' })};`);
  out.push(`  node ${attrList({ shape: 'circle', style: 'filled', fillcolor: '#f5f5f5', fontname: 'sans-serif', fontsize: 11 })};`);
  out.push(`  edge ${attrList({ fontname: 'sans-serif', fontsize: 10, penwidth: 3 })};`);
  for (const r of v.routers) {
    out.push(`  ${dotString(r.id)} ${attrList(r.egress
      ? { label: `egress\n${r.node}`, shape: 'diamond', fillcolor: '#eef4ff', tooltip: `egress to the Internet on node ${r.node}` }
      : { label: `${r.id}\n${r.node}`, tooltip: `router ${r.id} on node ${r.node}` })};`);
  }
  for (const l of v.links) {
    const tip = `${l.id}: ${l.encapsulation}, ${l.state}${l.error ? ` (${l.error})` : ''}`;
    if (l.ends.length === 2) {
      const c = stateColour(l.state);
      out.push(`  ${dotString(l.ends[0]!.router)} -- ${dotString(l.ends[1]!.router)} ${attrList({ label: fullLabel(l), color: c, fontcolor: c, tooltip: tip, ...(l.state === 'stopped' ? { style: 'dashed' } : {}) })};`);
      continue;
    }
    const hub = dotString(lanHubId(l.id));
    out.push(`  ${hub} ${attrList({ shape: 'point', width: 0.15, color: stateColour(l.state), xlabel: fullLabel(l), tooltip: tip })};`);
    for (const e of l.ends) {
      const c = stateColour(e.state);
      out.push(`  ${hub} -- ${dotString(e.router)} ${attrList({ color: c, tooltip: `${l.id} @${e.router}: ${e.state}${e.error ? ` (${e.error})` : ''}`, ...(e.state === 'stopped' ? { style: 'dashed' } : {}) })};`);
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
