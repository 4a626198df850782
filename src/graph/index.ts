// A slice's picture in three formats, from one view (view.ts): SVG to look
// at, DOT for Graphviz, Mermaid for Markdown. No I/O here.
import { renderDot } from './dot.js';
import { renderMermaid } from './mermaid.js';
import { renderSvg } from './svg.js';
import type { GraphView } from './view.js';

export const FORMATS = ['svg', 'dot', 'mermaid'] as const;
export type Format = (typeof FORMATS)[number];

export function render(v: GraphView, format: Format): string {
  switch (format) {
    case 'svg': return renderSvg(v);
    case 'dot': return renderDot(v);
    case 'mermaid': return renderMermaid(v);
  }
}

export { graphFromManifest, stateColour, STATE_COLOURS, type GraphView, type GraphLink, type GraphRouter, type GraphEnd, type LinkRtt } from './view.js';
export { renderSvg, renderDot, renderMermaid };
