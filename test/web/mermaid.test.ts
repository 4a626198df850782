// The pictures in a browser, without a controller: Chromium's strict XML
// parser reads every SVG the renderer draws (xmldom, in the unit tests, lets
// some mistakes pass), and Mermaid itself (its own bundle, from the pinned
// devDependency) parses and draws our Mermaid text.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { render } from '../../src/graph/index.js';
import type { GraphView } from '../../src/graph/view.js';
import { browserSkipReason, launchChromium } from '../helpers/browser.js';
import { AWKWARD, EMPTY, RING, SOLO } from '../helpers/graph-views.js';

const VIEWS: Array<[string, GraphView]> = [['the ring', RING], ['awkward names', AWKWARD], ['an empty slice', EMPTY], ['one router', SOLO]];
const MERMAID = join(dirname(createRequire(import.meta.url).resolve('mermaid/package.json')), 'dist/mermaid.min.js');

describe.skipIf(browserSkipReason)('the pictures in Chromium', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ path: MERMAID });
    await page.evaluate(() => (window as unknown as { mermaid: { initialize(o: object): void } }).mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' }));
  });
  afterAll(async () => { await browser?.close(); });

  it.each(VIEWS)('SVG of %s: well-formed XML to Chromium, every router and link in it', async (_, v) => {
    const r = await page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const err = doc.getElementsByTagName('parsererror')[0];
      return {
        error: err?.textContent ?? '',
        routers: [...doc.querySelectorAll('g[data-router]')].map((g) => g.getAttribute('data-router')),
        links: [...doc.querySelectorAll('g[data-link]')].map((g) => g.getAttribute('data-link')),
      };
    }, render(v, 'svg'));
    expect(r.error).toBe('');
    expect(r.routers).toEqual(v.routers.map((x) => x.id));
    expect(r.links).toEqual(v.links.map((x) => x.id));
  });

  it.each(VIEWS)('Mermaid text of %s: Mermaid parses it and draws every router and link label', async (_, v) => {
    const text = render(v, 'mermaid');
    const r = await page.evaluate(async (t) => {
      const m = (window as unknown as { mermaid: { parse(t: string): Promise<unknown>; render(id: string, t: string): Promise<{ svg: string }> } }).mermaid;
      try {
        await m.parse(t);
        const { svg } = await m.render(`g${Math.random().toString(36).slice(2)}`, t);
        // Mermaid's labels are HTML inside the SVG (not XML): read them as the page would show them.
        const box = document.createElement('div');
        box.innerHTML = svg;
        const labels = [...box.querySelectorAll('.nodeLabel, .edgeLabel')].map((x) => x.textContent ?? '');
        return { ok: true, text: labels.join('|'), svg };
      } catch (e) {
        return { ok: false, text: String((e as Error).message ?? e), svg: '' };
      }
    }, text);
    expect(r.ok, `${r.text}\n${text}`).toBe(true);
    for (const x of v.routers) expect(r.text, x.id).toContain(x.egress ? 'egress' : x.id);
    for (const l of v.links) expect(r.text, l.id).toContain(`${l.id}: ${l.encapsulation}`);
    // linkStyle took: the failed link's red is in the drawing.
    if (v === RING) expect(r.svg).toContain('stroke:#d62728');
  });
});
