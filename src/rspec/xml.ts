// XML for RSpecs: @xmldom/xmldom's parser with every problem placed. A
// document that is not well-formed is one InvalidSpecError naming the
// source, line and column; an element visp refuses later is named the same
// way, by its place and its tag with its identifying attribute:
//   request.xml:14:5: <link client_id="l1">: …
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { InvalidSpecError } from '../errors.js';

/** The GENI RSpec v3 namespace (request and manifest). */
export const GENI_V3 = 'http://www.geni.net/resources/rspec/3';

/**
 * Parse `text` (named `source` in errors). Warnings of the parser (an
 * unquoted attribute, …) are refused like errors: a request that is not
 * well-formed is not guessed at. A DOCTYPE is refused too (no RSpec has one,
 * and entity declarations are how XML bombs start).
 */
export function parseXml(text: string, source: string): Document {
  let doc: Document;
  // xmldom wraps what onError throws in its own ParseError: the first problem is kept here.
  let first: InvalidSpecError | undefined;
  try {
    doc = new DOMParser({
      onError: (_level, message, ctx?: { locator?: { lineNumber?: number; columnNumber?: number } }) => {
        const l = ctx?.locator;
        first ??= new InvalidSpecError(`${source}:${l?.lineNumber || 1}:${l?.columnNumber || 1}: not well-formed XML: ${message}`, { field: source });
        throw first;
      },
    }).parseFromString(text, 'text/xml');
  } catch (e) {
    throw first ?? new InvalidSpecError(`${source}: not well-formed XML: ${(e as Error).message}`, { field: source, cause: e });
  }
  if (doc.doctype) throw new InvalidSpecError(`${source}:1:1: a DOCTYPE is not accepted in an RSpec`, { field: source });
  checkAttributes(doc, source);
  return doc;
}

/**
 * Characters XML 1.0 does not allow in a document at all (C0 controls but
 * tab, newline and return; U+FFFE, U+FFFF; lone surrogates). xmldom takes
 * them, raw or as character references like &#1;; visp refuses them in any
 * attribute, so a value it keeps (an interface's client_id, a component_id)
 * can always be written back into a manifest that parses.
 */
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\p{Cs}]/u;

const codePoint = (c: string): string => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Every attribute of every element, without recursion (a deep document must not overflow the stack). */
function checkAttributes(doc: Document, source: string): void {
  const stack: Element[] = doc.documentElement ? [doc.documentElement] : [];
  for (let el = stack.pop(); el; el = stack.pop()) {
    for (let i = 0; i < el.attributes.length; i++) {
      const a = el.attributes.item(i)!;
      const bad = NOT_XML.exec(a.value);
      if (bad) throw new InvalidSpecError(`${where(source, el)}: <${el.tagName}>: ${a.name}: ${codePoint(bad[0])} is not a character XML allows`, { field: source });
    }
    for (let n = el.lastChild; n; n = n.previousSibling) if (n.nodeType === 1) stack.push(n as Element);
  }
}

/** A value as an XML attribute's text: escaped so that it reads back the same (tab, newline, return as references: a reader would turn them into spaces), and what XML cannot carry as U+FFFD. */
export function escapeAttr(v: string): string {
  return v.replace(/[&<>"\t\n\r]|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\p{Cs}]/gu, (c) => ATTR_ESCAPES[c] ?? '\ufffd');
}
const ATTR_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

/** "SOURCE:LINE:COL" of an element. */
export const where = (source: string, el: Element): string => `${source}:${el.lineNumber ?? 0}:${el.columnNumber ?? 0}`;

/** The element as a reader finds it in the file: its tag and the attribute that names it. */
export function tag(el: Element): string {
  for (const a of ['client_id', 'name', 'source_id']) {
    const v = el.getAttribute(a);
    if (v !== null) return `<${el.tagName} ${a}="${v}">`;
  }
  return `<${el.tagName}>`;
}

/** An error about `el`: "SOURCE:LINE:COL: <tag …>: reason". */
export function refuse(source: string, el: Element, reason: string): never {
  throw new InvalidSpecError(`${where(source, el)}: ${tag(el)}: ${reason}`, { field: source });
}

/** The element children of `el`, in order. */
export function childElements(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as Element);
  return out;
}

/** An attribute's value, or undefined when absent. */
export const attr = (el: Element, name: string): string | undefined => el.getAttribute(name) ?? undefined;
