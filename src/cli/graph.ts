// `visp graph SLICE`: the slice's topology as a picture (SVG, DOT or
// Mermaid), drawn from its Status manifest: routers, links coloured by
// state, each link's encapsulation. The drawing is src/graph/ (no I/O);
// here: the API's manifest → the graph's view, the flags, the file.
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Manifest__Output } from '../api/gen/visp/v1/Manifest.js';
import { EGRESS_MEMBER } from '../controller/model.js';
import { FORMATS, render, type Format, type GraphView } from '../graph/index.js';
import { egressRouterId, linkRtts, type LinkRtt, type PairRtt } from '../graph/view.js';
import type { PathHealth__Output } from '../api/gen/visp/v1/PathHealth.js';
import { withTimeout } from '../lab/index.js';
import { command, parse, UsageError } from './args.js';
import { encap, opState } from './tables.js';
import { withClient } from './target.js';

export const GRAPH = command({
  name: 'graph', args: 'SLICE', positionals: 1,
  summary: 'a slice\'s topology as a picture: routers, links coloured by state, encapsulation (SVG, DOT or Mermaid)',
  flags: {
    controller: { type: 'string', value: 'ADDR', help: 'the controller: host:port or unix:/path (default: $VISP_CONTROLLER, else the one lab that is up)' },
    format: { type: 'string', value: 'FORMAT', help: `${FORMATS.join(', ')} (default: from --out's extension, else svg)` },
    out: { type: 'string', value: 'FILE', help: 'write the picture to FILE (default: standard output)' },
  },
  notes: 'Colours: ready green, configuring amber, failed red, stopped grey (dashed). DOT is for Graphviz\n' +
    '(dot -Tpng), Mermaid for Markdown. docs/operations.md shows the picture and the controller\'s live page.',
});

const BY_EXTENSION: Record<string, Format> = { '.svg': 'svg', '.dot': 'dot', '.gv': 'dot', '.mmd': 'mermaid', '.mermaid': 'mermaid' };

export function chooseFormat(format: string | undefined, out: string | undefined): Format {
  if (format !== undefined) {
    if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`graph: flag --format: ${JSON.stringify(format)} is not one of ${FORMATS.join(', ')}`);
    return format as Format;
  }
  return (out && BY_EXTENSION[extname(out).toLowerCase()]) || 'svg';
}

/** The API's manifest as the graph's view: routers in the order links name them, an egress end as an egress router. */
export function graphFromPb(m: Manifest__Output, rtt: ReadonlyMap<string, LinkRtt> = new Map()): GraphView {
  const routers = new Map<string, GraphView['routers'][number]>();
  const links = m.slivers.map((s) => ({
    id: s.link, encapsulation: encap(s.encapsulation), state: opState(s.operationalState), ...(s.error ? { error: s.error } : {}),
    ends: s.endpoints.map((e) => {
      const egress = e.node === EGRESS_MEMBER;
      const id = egress ? egressRouterId(e.physicalNode) : e.node;
      if (!routers.has(id)) routers.set(id, { id, node: e.physicalNode, ...(egress ? { egress: true } : {}) });
      return { router: id, state: opState(e.operationalState), ...(e.error ? { error: e.error } : {}) };
    }),
    ...(rtt.has(s.link) ? { rtt: rtt.get(s.link)! } : {}),
  }));
  return { slice: m.slice, state: opState(m.operationalState), routers: [...routers.values()], links };
}

const pairRttFromPb = (h: PathHealth__Output): PairRtt => ({
  alive: h.state === 'OPERATIONAL_STATE_READY' ? true : h.state === 'OPERATIONAL_STATE_DOWN' ? false : undefined,
  ...(h.answered ? { rttP50Ms: h.rttP50Ms, rttP99Ms: h.rttP99Ms } : {}),
});

export async function graphCmd(args: string[]): Promise<void> {
  const { values, positionals } = parse(GRAPH, args);
  const slice = positionals[0];
  if (!slice) throw new UsageError('graph: which slice? (visp graph SLICE; visp slices lists them)');
  const format = chooseFormat(values.format, values.out);
  const r = await withClient(values.controller, (c) => withTimeout(c.links.status({ slice }), 60_000, 'Status'));
  if (!r.manifest) throw new Error(`slice ${slice}: the controller sent no manifest`);
  // RTT on each link from the operator's tunnel view, where the caller may read it (an AM may not: then no RTT).
  const tunnels = await withClient(values.controller, (c) => withTimeout(c.operator.listTunnels({ slice }), 60_000, 'ListTunnels')).then((x) => x.tunnels, () => []);
  const view = graphFromPb(r.manifest, linkRtts(tunnels.map((t) => ({ link: t.link, pairs: t.health.map(pairRttFromPb) }))));
  const text = render(view, format);
  if (values.out === undefined) {
    process.stdout.write(text);
    return;
  }
  writeFileSync(values.out, text);
  process.stdout.write(`${values.out}: slice ${slice} (${view.state}), ${view.routers.length} routers, ${view.links.length} links, ${format}\n`);
}
