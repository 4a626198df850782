// docs/rspec.md cannot drift from the reader: its error example is what
// `visp rspec import` says for the jFed fixture with that link_type, its
// manifest example is well-formed XML in the namespaces the writer uses,
// and every extension namespace the rule knows is in its table.
import { readFileSync } from 'node:fs';
import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { NS } from '../../src/rspec/elements.js';
import { VISP_NS } from '../../src/rspec/manifest.js';
import { parseRequestRspec } from '../../src/rspec/request.js';
import { GENI_V3 } from '../../src/rspec/xml.js';

const DOC = readFileSync(new URL('../../docs/rspec.md', import.meta.url), 'utf8');
const JFED = readFileSync(new URL('../fixtures/rspec/jfed.xml', import.meta.url), 'utf8');

describe('docs/rspec.md matches the code', () => {
  it('the import error is the reader\'s, word for word', () => {
    const shown = /\$ visp rspec import request\.xml\nvisp: (.*)\n/.exec(DOC)![1]!;
    const bad = JFED.replace('<link_type name="lan"/>', '<link_type name="ipip-tunnel"/>');
    expect(() => parseRequestRspec(bad, { source: 'request.xml' })).toThrow(shown);
  });

  it('the manifest example is well-formed, in GENI v3 and visp\'s namespace', () => {
    const xml = /```xml\n([\s\S]*?)```/.exec(DOC)![1]!.replace(/…/g, 'x');
    const doc = new DOMParser({ onError: (l, m) => { throw new Error(`${l}: ${m}`); } }).parseFromString(xml, 'text/xml');
    expect(doc.documentElement!.namespaceURI).toBe(GENI_V3);
    expect(doc.documentElement!.getAttribute('xmlns:visp')).toBe(VISP_NS);
  });

  it('every extension namespace the rule knows is in its table', () => {
    for (const [name, uri] of Object.entries(NS)) {
      const tail = uri.replace(/^https?:\/\/[^/]+/, '').replace(/\/1$|\/0\.1\/$/, '').replace(/\/1\/vtop_extension$/, '');
      expect(DOC, `${name} (${uri})`).toMatch(new RegExp(`\`[^\`]*${tail.split('/').pop()!.replace(/[-]/g, '.')}`));
    }
  });
});
