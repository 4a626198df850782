// The renderers: the SVG parses as XML and shows every router and link in its
// state's colour; the DOT text is accepted by Graphviz itself (`dot`, Debian's
// graphviz) and draws the same; the Mermaid text has one node per router and
// one style per edge (Mermaid itself parses it in test/web/mermaid.test.ts,
// in Chromium). Views: test/helpers/graph-views.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { AWKWARD, EMPTY, RING, SOLO } from '../../test/helpers/graph-views.js';
import type { Manifest } from '../controller/model.js';
import { render } from './index.js';
import { layout, ROUTER_RADIUS } from './layout.js';
import { renderMermaid } from './mermaid.js';
import { renderSvg } from './svg.js';
import { graphFromManifest, linkRtt, linkRtts, stateColour, STATE_COLOURS, type GraphView } from './view.js';

const parseXml = (text: string): Element => new DOMParser({ onError: (level, msg) => { throw new Error(`${level}: ${msg}`); } })
  .parseFromString(text, 'image/svg+xml').documentElement!;
const all = (root: Element, tag: string): Element[] => Array.from(root.getElementsByTagName(tag));
const byAttr = (root: Element, tag: string, attr: string, value: string): Element[] => all(root, tag).filter((e) => e.getAttribute(attr) === value);
const titleOf = (g: Element): string => all(g, 'title')[0]?.textContent ?? '';

describe('renderSvg', () => {
  it('is well-formed SVG with every router and every link, each link in its state\'s colour', () => {
    const svg = parseXml(renderSvg(RING));
    expect(svg.tagName).toBe('svg');
    expect(svg.getAttribute('xmlns')).toBe('http://www.w3.org/2000/svg');
    expect(svg.getAttribute('data-slice')).toBe('demo');
    for (const r of RING.routers) {
      const [g, ...more] = byAttr(svg, 'g', 'data-router', r.id);
      expect(g, r.id).toBeDefined();
      expect(more).toEqual([]);
      expect(g!.getAttribute('data-node')).toBe(r.node);
      expect(all(g!, 'text').map((t) => t.textContent)).toEqual([r.egress ? 'egress' : r.id, r.node]);
    }
    for (const l of RING.links) {
      const [g, ...more] = byAttr(svg, 'g', 'data-link', l.id);
      expect(g, l.id).toBeDefined();
      expect(more).toEqual([]);
      expect(g!.getAttribute('data-state')).toBe(l.state);
      expect(g!.getAttribute('data-encapsulation')).toBe(l.encapsulation);
      const paths = all(g!, 'path');
      if (l.ends.length === 2) {
        expect(paths.map((p) => p.getAttribute('stroke'))).toEqual([stateColour(l.state)]);
      } else {
        // A LAN: one spoke per member, each in that member's state.
        expect(paths.map((p) => [p.getAttribute('data-router'), p.getAttribute('stroke')])).toEqual(l.ends.map((e) => [e.router, stateColour(e.state)]));
      }
      expect(titleOf(g!)).toContain(`${l.id}: ${l.encapsulation}, ${l.state}`);
    }
  });

  it('colours: ready green, failed red, configuring amber, stopped grey and dashed; a state it does not know is grey', () => {
    expect(STATE_COLOURS).toMatchObject({ ready: '#2ca02c', failed: '#d62728', down: '#d62728', configuring: '#e6a100', stopped: '#7f7f7f' });
    expect(stateColour('no-such-state')).toBe('#7f7f7f');
    const svg = parseXml(renderSvg(RING));
    const path = (link: string): Element => all(byAttr(svg, 'g', 'data-link', link)[0]!, 'path')[0]!;
    expect(path('r2r3').getAttribute('stroke')).toBe('#d62728');
    expect(path('r1r2').getAttribute('stroke')).toBe('#2ca02c');
    expect(path('r3r4').getAttribute('stroke')).toBe('#e6a100');
    expect(path('r4r1').getAttribute('stroke-dasharray')).toBe('6 4');
    expect(path('r1r2').hasAttribute('stroke-dasharray')).toBe(false);
    // The legend names each state shown, in a fixed order.
    expect(all(all(svg, 'g').find((g) => g.getAttribute('class') === 'legend')!, 'text').map((t) => t.textContent)).toEqual(['ready', 'configuring', 'failed', 'stopped']);
  });

  it('labels each link with its encapsulation, and its RTT where one is measured', () => {
    const svg = parseXml(renderSvg(RING));
    const text = (link: string): string => all(byAttr(svg, 'g', 'data-link', link)[0]!, 'text').map((t) => t.textContent).join('|');
    expect(text('r1r2')).toBe('r1r2: vxlan 0.21 ms');
    expect(byAttr(svg, 'g', 'data-link', 'r1r2')[0]!.getAttribute('data-rtt-ms')).toBe('0.214');
    expect(titleOf(byAttr(svg, 'g', 'data-link', 'r1r2')[0]!)).toContain('rtt p50 0.214 ms, p99 0.5 ms');
    expect(text('r2r3')).toBe('r2r3: gre');
    expect(byAttr(svg, 'g', 'data-link', 'r2r3')[0]!.hasAttribute('data-rtt-ms')).toBe(false);
    expect(text('lan')).toBe('lan: vxlan');
    expect(titleOf(byAttr(svg, 'g', 'data-link', 'r2r3')[0]!)).toContain('r3 @n3: failed (interface vt1 exists and is not owned by visp)');
  });

  it('escapes what it writes: quotes, <, & in errors stay text', () => {
    // xmldom lets a bare & pass; Chromium's strict XML parser checks the same pictures in test/web/mermaid.test.ts.
    expect(renderSvg(AWKWARD)).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
    const svg = parseXml(renderSvg(AWKWARD));
    expect(titleOf(byAttr(svg, 'g', 'data-link', 'x.y')[0]!)).toContain('quote " and <tag> & back\\slash');
    expect(titleOf(byAttr(svg, 'g', 'data-link', 'x.y')[0]!)).toContain('r_3 @n3: down (a "reason")');
  });

  it('an empty slice and a one-router slice are pictures too', () => {
    for (const v of [EMPTY, SOLO]) expect(parseXml(renderSvg(v)).getAttribute('data-slice')).toBe(v.slice);
  });

  it('is deterministic', () => {
    expect(renderSvg(RING)).toBe(renderSvg(structuredClone(RING)));
  });
});

describe('layout', () => {
  const ring = (n: number): GraphView => ({
    slice: 'big', state: 'ready',
    routers: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, node: `n${i % 7}` })),
    links: Array.from({ length: n }, (_, i) => ({ id: `l${i}`, encapsulation: 'vxlan', state: 'ready', ends: [{ router: `r${i}`, state: 'ready' }, { router: `r${(i + 1) % n}`, state: 'ready' }] })),
  });

  it.each([2, 3, 10, 100, 300])('%i routers: none overlaps another, all inside the picture', (n) => {
    const L = layout(ring(n));
    const ps = [...L.routers.values()];
    for (let i = 0; i < ps.length; i++) {
      for (let j = i + 1; j < ps.length; j++) expect(Math.hypot(ps[i]!.x - ps[j]!.x, ps[i]!.y - ps[j]!.y)).toBeGreaterThan(2 * ROUTER_RADIUS);
      expect(ps[i]!.x - ROUTER_RADIUS).toBeGreaterThan(0);
      expect(ps[i]!.x + ROUTER_RADIUS).toBeLessThan(L.width);
      expect(ps[i]!.y - ROUTER_RADIUS).toBeGreaterThan(L.top);
      expect(ps[i]!.y + ROUTER_RADIUS).toBeLessThan(L.height);
    }
  });

  it('parallel links between the same routers are bowed apart; a LAN hub is at none of the routers', () => {
    const L = layout(RING);
    const a = L.edges.find((e) => e.link === 'r4r1')!, b = L.edges.find((e) => e.link === 'r4r1-b')!;
    expect(Math.hypot(a.label.x - b.label.x, a.label.y - b.label.y)).toBeGreaterThan(20);
    const hub = L.hubs.get('lan')!;
    for (const p of L.routers.values()) expect(Math.hypot(p.x - hub.x, p.y - hub.y)).toBeGreaterThan(ROUTER_RADIUS);
    expect(L.edges.filter((e) => e.link === 'lan').map((e) => e.router)).toEqual(['r1', 'r2', 'r3']);
  });

  it('two LANs with the same members get two hubs', () => {
    const v: GraphView = { ...RING, links: [...RING.links, { ...RING.links.find((l) => l.id === 'lan')!, id: 'lan2' }] };
    const L = layout(v);
    const [h1, h2] = [L.hubs.get('lan')!, L.hubs.get('lan2')!];
    expect(Math.hypot(h1.x - h2.x, h1.y - h2.y)).toBeGreaterThan(ROUTER_RADIUS);
  });
});

const hasDot = existsSync('/usr/bin/dot');
describe.skipIf(!hasDot)('renderDot, read by Graphviz (Debian\'s graphviz: bash scripts/setup.sh)', () => {
  /** Graphviz's own SVG of our DOT text; any warning on stderr fails. */
  const graphviz = (v: GraphView): Element => {
    const r = spawnSync('dot', ['-Tsvg'], { input: render(v, 'dot'), encoding: 'utf8' });
    expect(r.stderr, render(v, 'dot')).toBe('');
    expect(r.status).toBe(0);
    return parseXml(r.stdout.replace(/<!DOCTYPE[^>]*>/, ''));
  };

  it.each([['the ring', RING], ['awkward names', AWKWARD], ['an empty slice', EMPTY], ['one router', SOLO]])('%s: accepted; every router a node, every link its edges, in the state colours', (_, v) => {
    const g = graphviz(v);
    const nodes = all(g, 'g').filter((x) => x.getAttribute('class') === 'node').map(titleOf);
    const edges = all(g, 'g').filter((x) => x.getAttribute('class') === 'edge');
    const lans = v.links.filter((l) => l.ends.length !== 2);
    expect(nodes.sort()).toEqual([...v.routers.map((r) => r.id), ...lans.map((l) => `lan:${l.id}`)].sort());
    expect(edges).toHaveLength(v.links.reduce((n, l) => n + (l.ends.length === 2 ? 1 : l.ends.length), 0));
    const strokes = edges.map((e) => all(e, 'path')[0]!.getAttribute('stroke')!.toLowerCase());
    const want = v.links.flatMap((l) => (l.ends.length === 2 ? [l.state] : l.ends.map((e) => e.state))).map(stateColour);
    expect(strokes.sort()).toEqual(want.sort());
  });

  it('labels survive Graphviz: link labels and the error text in tooltips', () => {
    const text = execFileSync('dot', ['-Tsvg'], { input: render(AWKWARD, 'dot'), encoding: 'utf8' });
    expect(text).toContain('x.y: gre');
    expect(text).toContain('quote &quot; and &lt;tag&gt; &amp; back\\slash');
  });
});

describe('renderMermaid', () => {
  it('a flowchart with a title, one node per router, one linkStyle per edge in the state colours', () => {
    const text = renderMermaid(RING);
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(0, 4)).toEqual(['---', 'title: "slice demo: failed"', '---', 'flowchart LR']);
    expect(lines.filter((l) => /^ {2}r\d+(\(\(|\{")/.test(l))).toHaveLength(RING.routers.length);
    const edges = lines.filter((l) => / ---(\|| )/.test(l));
    const styles = lines.filter((l) => l.startsWith('  linkStyle '));
    expect(styles).toHaveLength(edges.length);
    expect(styles.map((s) => Number(s.split(' ')[3]))).toEqual(edges.map((_, i) => i));
    expect(lines).toContain('  r1 ---|"r2r3: gre"| r2');
    expect(styles[1]).toBe('  linkStyle 1 stroke:#d62728,stroke-width:3px');
    expect(styles[3]).toBe('  linkStyle 3 stroke:#7f7f7f,stroke-width:3px,stroke-dasharray:6 4');
    expect(lines).toContain('  r4{"egress<br/>egr"}');
  });

  it('uses its own ids (a router called "end" is a Mermaid keyword) and entity-escapes labels', () => {
    const text = renderMermaid(AWKWARD);
    expect(text).toContain('  r0(("end<br/>node.1"))');
    expect(text).not.toMatch(/^ {2}end\b/m);
    const awkward = renderMermaid({ ...AWKWARD, links: [{ ...AWKWARD.links[0]!, id: 'a"b<c>#d' }] });
    expect(awkward).toContain('"a#quot;b#lt;c#gt;#35;d: vxlan"');
  });
});

describe('graphFromManifest', () => {
  it('routers in the order links name them, egress ends as egress routers, states and errors from the manifest', () => {
    const ep = (node: string, physicalNode: string, state: Manifest['state'], error?: string) => ({
      node, physicalNode, netns: '', ifname: 'eth1', addresses: [], underlay: '198.18.0.1', state, devices: [], remotes: [], ...(error ? { error } : {}),
    });
    const link = (id: string, kind: 'vxlan' | 'gre') => ({ id, kind, key: 1, mtu: 1450, lan: false, addressClass: 'local' as const, endpoints: [], stopped: false, restart: 0 });
    const m: Manifest = {
      slice: 's1', allocation: 'provisioned', state: 'failed', endTime: 0, groupId: 1, blocks: [],
      slivers: [
        { id: 's1/b', link: link('b', 'gre'), state: 'failed', error: 'r2: boom', endpoints: [ep('r2', 'n2', 'failed', 'boom'), ep('r1', 'n1', 'ready')] },
        { id: 's1/out', link: link('out', 'vxlan'), state: 'ready', endpoints: [ep('r1', 'n1', 'ready'), ep('@egress', 'egr', 'ready')] },
      ],
    };
    const v = graphFromManifest(m, new Map([['out', { p50Ms: 1.5 }]]));
    expect(v).toEqual({
      slice: 's1', state: 'failed',
      routers: [{ id: 'r2', node: 'n2' }, { id: 'r1', node: 'n1' }, { id: 'egress:egr', node: 'egr', egress: true }],
      links: [
        { id: 'b', encapsulation: 'gre', state: 'failed', error: 'r2: boom', ends: [{ router: 'r2', state: 'failed', error: 'boom' }, { router: 'r1', state: 'ready' }] },
        { id: 'out', encapsulation: 'vxlan', state: 'ready', ends: [{ router: 'r1', state: 'ready' }, { router: 'egress:egr', state: 'ready' }], rtt: { p50Ms: 1.5 } },
      ],
    });
  });
});

describe('a link\'s RTT from its probed pairs', () => {
  it('the slowest answering pair\'s p50 and the largest p99; none when nothing answers', () => {
    expect(linkRtt([{ alive: true, rttP50Ms: 0.1, rttP99Ms: 0.3 }, { alive: true, rttP50Ms: 0.2, rttP99Ms: 0.25 }, { alive: false }])).toEqual({ p50Ms: 0.2, p99Ms: 0.3 });
    expect(linkRtt([{ alive: false }, { alive: undefined }])).toBeUndefined();
    expect(linkRtts([{ link: 'a', pairs: [{ alive: true, rttP50Ms: 1 }] }, { link: 'a', pairs: [{ alive: true, rttP50Ms: 2 }] }, { link: 'b', pairs: [] }]))
      .toEqual(new Map([['a', { p50Ms: 2, p99Ms: 2 }]]));
  });
});
