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
  return doc;
}

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
