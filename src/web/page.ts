// The operator's page: one HTML document, its stylesheet and its script,
// served as they are (no build step, no framework). The script opens
// /events (server-sent events) and redraws from each `state` message: every
// slice's picture (SVG drawn by the server, src/graph/svg.ts) and the tunnel
// table. Nothing here is inline, so the page runs under a strict
// Content-Security-Policy (script-src 'self').
import { xml } from '../graph/svg.js';

export function pageHtml(who: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>visp: slices and tunnels</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>visp</h1>
  <span id="status" data-connected="false">connecting…</span>
  <span id="updated"></span>
  <span id="who">${xml(who)}</span>
</header>
<main>
  <section id="slices"><p class="empty">loading…</p></section>
  <section id="tunnel-section">
    <h2>Tunnels</h2>
    <table id="tunnels">
      <thead><tr><th>sliver</th><th>node</th><th>kind</th><th>dataplane</th><th>key</th><th>local</th><th>remotes</th><th>state</th><th>rx pkts</th><th>tx pkts</th><th>rx bytes</th><th>tx bytes</th><th>error</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;
}

export const PAGE_CSS = `
body { font-family: sans-serif; margin: 0; color: #222; background: #fafafa; }
header { display: flex; gap: 1.5em; align-items: baseline; padding: 0.6em 1em; background: #1f2d3d; color: #fff; }
header h1 { margin: 0; font-size: 1.3em; }
#status[data-connected="true"] { color: #8fd18f; }
#status[data-connected="false"] { color: #f5b35c; }
#who { margin-left: auto; opacity: 0.8; font-size: 0.9em; }
main { padding: 1em; }
.slice { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; margin-bottom: 1em; }
.slice h2 { font-size: 1.05em; margin: 0.3em 0; }
.picture { overflow: auto; }
.picture svg { max-width: 100%; height: auto; }
.empty { color: #777; }
table { border-collapse: collapse; font-size: 0.85em; background: #fff; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.state-ready { color: #2ca02c; }
td.state-configuring, td.state-pending { color: #b07a00; }
td.state-failed, td.state-down { color: #d62728; font-weight: bold; }
td.state-degraded { color: #ff7f0e; }
td.state-stopped { color: #7f7f7f; }
td.error { white-space: normal; max-width: 40em; }
`;

/** The page's script: plain browser JavaScript, kept small; it trusts only the SVG, which the server escapes. */
export const PAGE_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const pictures = new Map();
  const num = (n) => Number(n).toLocaleString('en-US');

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
  }

  function drawSlices(slices) {
    const box = $('slices');
    const keep = new Set(slices.map((s) => s.slice));
    for (const sec of [...box.querySelectorAll('section.slice')]) if (!keep.has(sec.dataset.slice)) { sec.remove(); pictures.delete(sec.dataset.slice); }
    box.querySelector('.empty')?.remove();
    if (!slices.length) { const p = document.createElement('p'); p.className = 'empty'; p.textContent = 'no slices'; box.append(p); }
    for (const s of slices) {
      let sec = [...box.querySelectorAll('section.slice')].find((x) => x.dataset.slice === s.slice);
      if (!sec) {
        sec = document.createElement('section');
        sec.className = 'slice';
        sec.dataset.slice = s.slice;
        sec.append(document.createElement('h2'));
        const pic = document.createElement('div');
        pic.className = 'picture';
        sec.append(pic);
      }
      box.append(sec); // in the server's order
      sec.dataset.state = s.state;
      sec.querySelector('h2').textContent = s.slice + ': ' + s.state + ' (' + s.allocation + '), ' + s.routers + ' routers, ' + s.links + ' links' + (s.failed ? ', ' + s.failed + ' failed' : '');
      if (pictures.get(s.slice) !== s.svg) {
        sec.querySelector('.picture').innerHTML = s.svg;
        pictures.set(s.slice, s.svg);
      }
    }
  }

  function drawTunnels(tunnels) {
    const body = $('tunnels').tBodies[0];
    const rows = tunnels.map((t) => {
      const tr = document.createElement('tr');
      tr.dataset.sliver = t.sliver;
      tr.dataset.node = t.node;
      tr.dataset.state = t.state;
      cell(tr, t.sliver); cell(tr, t.node); cell(tr, t.kind); cell(tr, t.dataplane || '-'); cell(tr, t.key ? String(t.key) : '-');
      cell(tr, t.local); cell(tr, t.remotes.join(', ') || '-'); cell(tr, t.state, 'state-' + t.state);
      cell(tr, num(t.rxPackets), 'num'); cell(tr, num(t.txPackets), 'num'); cell(tr, num(t.rxBytes), 'num'); cell(tr, num(t.txBytes), 'num');
      cell(tr, t.error || '', 'error');
      return tr;
    });
    body.replaceChildren(...rows);
  }

  function connect() {
    const es = new EventSource('/events');
    es.addEventListener('open', () => { $('status').dataset.connected = 'true'; $('status').textContent = 'live'; });
    es.addEventListener('error', () => { $('status').dataset.connected = 'false'; $('status').textContent = 'reconnecting…'; });
    es.addEventListener('state', (ev) => {
      const s = JSON.parse(ev.data);
      drawSlices(s.slices);
      drawTunnels(s.tunnels);
      $('updated').textContent = 'updated ' + new Date(s.time).toLocaleTimeString();
      document.body.dataset.version = String(s.version);
    });
  }
  connect();
})();
`;
