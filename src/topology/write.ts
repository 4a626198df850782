// A topology in the model → a topology file (yaml.ts's format), for
// `visp rspec import`. What it writes reads back (parseTopology) as the same
// topology, except the RSpec's own names (component ids, interface
// client_ids), which a topology file does not hold: a file written here is
// a visp topology, to read, change and `lab up`, not an RSpec in disguise.
import { stringify } from 'yaml';
import type { LinkMember, LinkProperties, Topology, TopologyLink } from '../controller/model.js';
import { PROPERTY_NAMES, sameProperties, showFraction, showRate, showTime, shapedOnly } from '../shape/properties.js';
import { parsePercent, parseRate, parseTime } from '../shape/units.js';

/** The text of a topology file named `name`, with `comment` lines on top. */
export function topologyYaml(name: string, t: Topology, comment: readonly string[] = []): string {
  const doc = {
    name,
    nodes: Object.fromEntries(t.nodes.map((n) => [n.id, n.netns ? { node: n.node, netns: n.netns } : { node: n.node }])),
    links: t.links.map(link),
  };
  const head = comment.map((c) => `# ${c}`.trimEnd()).join('\n');
  const body = stringify(doc, { lineWidth: 0, flowCollectionPadding: true, collectionStyle: 'block' });
  return head ? `${head}\n${body}` : body;
}

function link(l: TopologyLink): Record<string, unknown> {
  const out: Record<string, unknown> = { id: l.id, endpoints: l.members.map(endpoint) };
  if (l.encapsulation !== 'auto') out.encapsulation = l.encapsulation;
  if (l.mtu !== undefined) out.mtu = l.mtu;
  if (l.addressClass !== 'local') out.class = l.addressClass;
  for (const fam of ['ipv4', 'ipv6'] as const) {
    const a = l[fam];
    // IPv4 is on by default; say it only when it is off (IPv6 given alone) or sized.
    if (a) { if (a.prefixLength !== undefined) out[fam] = { prefix_length: a.prefixLength }; else if (fam === 'ipv6') out[fam] = true; } else if (fam === 'ipv4') out[fam] = false;
  }
  if (l.egress) out.egress = { node: l.egress.node, routes: l.egress.routes, ...(l.egress.defaultRoute ? {} : { default_route: false }) };
  // Every member sending alike: properties of the link; else each member's own under `from`.
  const own = l.members.map((m) => shapedOnly(m.properties));
  if (own.every((p) => sameProperties(p, own[0]))) Object.assign(out, words({ ...l.properties, ...own[0] }));
  else {
    Object.assign(out, words(l.properties ?? {}));
    out.from = Object.fromEntries(l.members.flatMap((m, j) => (own[j] ? [[m.node, words(own[j]!)]] : [])));
  }
  if (l.guaranteed) out.guaranteed = true;
  return out;
}

/** "r1", "r1:eth5", or the mapping when it has addresses. */
function endpoint(m: LinkMember): unknown {
  if (m.ipv4 === undefined && m.ipv6 === undefined) return m.ifname ? `${m.node}:${m.ifname}` : m.node;
  return { node: m.node, ...(m.ifname ? { ifname: m.ifname } : {}), ...(m.ipv4 ? { ipv4: m.ipv4 } : {}), ...(m.ipv6 ? { ipv6: m.ipv6 } : {}) };
}

/** Properties in the file's units, each written so that it reads back exactly. */
function words(p: LinkProperties): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of PROPERTY_NAMES) {
    const v = p[k];
    if (!v) continue;
    if (k === 'capacity') out[k] = exact(showRate(v), parseRate, v, `${v}bit`);
    else if (k === 'latency' || k === 'jitter') out[k] = exact(showTime(v), parseTime, v, `${v}us`);
    else out[k] = exact(showFraction(v), parsePercent, v, `${v * 100}%`);
  }
  return out;
}

const exact = (nice: string, parse: (s: string) => number | string, v: number, plain: string): string => (parse(nice) === v ? nice : plain);
