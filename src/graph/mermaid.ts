// The picture as Mermaid flowchart text, for a Markdown page or an issue
// (GitHub and GitLab render ```mermaid blocks). Mermaid does its own layout;
// we give it the routers, the links with their labels and each one's colour
// by state (linkStyle by the links' order), and a LAN as a hub node.
import { fullLabel, stateColour, type GraphView } from './view.js';

/**
 * Text inside a Mermaid "quoted label": Mermaid's entity codes for what would
 * end the label or be read as markup; newlines as <br/>.
 */
export function mermaidText(s: string): string {
  return s.replace(/[#"<>]/g, (ch) => ({ '#': '#35;', '"': '#quot;', '<': '#lt;', '>': '#gt;' })[ch]!).replace(/\r?\n/g, '<br/>');
}

export function renderMermaid(v: GraphView): string {
  // Mermaid ids are ours (r0, r1, …, h0, …): topology ids may contain '.', '-' or a Mermaid keyword ("end").
  const ids = new Map(v.routers.map((r, i) => [r.id, `r${i}`]));
  const id = (router: string): string => ids.get(router) ?? 'unknown';
  const out: string[] = ['---', `title: ${JSON.stringify(`slice ${v.slice}: ${v.state}`)}`, '---', 'flowchart LR'];
  for (const r of v.routers) {
    out.push(r.egress ? `  ${id(r.id)}{"${mermaidText(`egress\n${r.node}`)}"}` : `  ${id(r.id)}(("${mermaidText(`${r.id}\n${r.node}`)}"))`);
  }
  const styles: string[] = [];
  let edge = 0;
  const style = (state: string): string => `stroke:${stateColour(state)},stroke-width:3px${state === 'stopped' ? ',stroke-dasharray:6 4' : ''}`;
  v.links.forEach((l, i) => {
    if (l.ends.length === 2) {
      out.push(`  ${id(l.ends[0]!.router)} ---|"${mermaidText(fullLabel(l))}"| ${id(l.ends[1]!.router)}`);
      styles.push(`  linkStyle ${edge++} ${style(l.state)}`);
      return;
    }
    const hub = `h${i}`;
    out.push(`  ${hub}{{"${mermaidText(fullLabel(l))}"}}`);
    styles.push(`  style ${hub} stroke:${stateColour(l.state)},stroke-width:3px`);
    for (const e of l.ends) {
      out.push(`  ${hub} --- ${id(e.router)}`);
      styles.push(`  linkStyle ${edge++} ${style(e.state)}`);
    }
  });
  return `${[...out, ...styles].join('\n')}\n`;
}
