// The rule for the parts of a GENI RSpec visp does not model (docs/rspec.md),
// written once: what an element says about the *network* visp builds
// (which links exist, where they end, what they carry) and that visp cannot
// honour is refused — building something else than was asked would pass
// silently and be wrong; what it says about the *machines* (images,
// hardware, services, exclusivity), about the experimenter's tools (jFed's
// canvas positions) or about how a testbed builds its own VLANs is ignored,
// each with a warning naming it: the router visp builds is a network
// namespace on its node, and the AM that sent the request deals with the
// rest.
import type { Element } from '@xmldom/xmldom';
import { GENI_V3 } from './xml.js';

export const NS = {
  emulab: 'http://www.protogeni.net/resources/rspec/ext/emulab/1',
  client: 'http://www.protogeni.net/resources/rspec/ext/client/1',
  jfed: 'http://jfed.iminds.be/rspec/ext/jfed/1',
  sharedVlan: 'http://www.protogeni.net/resources/rspec/ext/shared-vlan/1',
  stitch: 'http://hpn.east.isi.edu/rspec/ext/stitch/0.1/',
  delay: 'http://www.protogeni.net/resources/rspec/ext/delay/1',
  vtop: 'http://www.protogeni.net/resources/rspec/ext/emulab/1/vtop_extension',
} as const;

export type Verdict = { action: 'ignore' | 'refuse'; why: string };

const MACHINE = 'it is about the machine, and a visp router is a network namespace on its node (the AM that sent the request looks after machines)';

/** GENI v3 elements visp does not model, by the element they appear in. */
const GENI_UNMODELLED: Readonly<Record<string, Readonly<Record<string, Verdict>>>> = {
  rspec: {},
  node: {
    sliver_type: { action: 'ignore', why: MACHINE },
    services: { action: 'ignore', why: MACHINE },
    hardware_type: { action: 'ignore', why: MACHINE },
    location: { action: 'ignore', why: 'where a node stands does not change the links visp builds' },
    relation: { action: 'ignore', why: MACHINE },
  },
  interface: {
    host: { action: 'ignore', why: 'the host name is the AM\'s' },
  },
  link: {
    component_hop: { action: 'refuse', why: 'a link path through named hops (stitching) is not something visp builds: its links are tunnels between the member nodes' },
  },
};

/** Extension namespaces, as a whole. */
const BY_NAMESPACE: Readonly<Record<string, Verdict>> = {
  [NS.emulab]: { action: 'ignore', why: 'an Emulab extension about the testbed\'s machines and VLANs, which visp does not use' },
  [NS.client]: { action: 'ignore', why: 'a note for the client' },
  [NS.jfed]: { action: 'ignore', why: 'jFed\'s own data (its canvas, its commands)' },
  [NS.vtop]: { action: 'ignore', why: 'an Emulab mapper hint; visp\'s bridges learn MAC addresses as a switch does' },
  [NS.sharedVlan]: { action: 'refuse', why: 'a shared VLAN joins the link to a VLAN outside the slice, which visp cannot reach' },
  [NS.stitch]: { action: 'refuse', why: 'a link across aggregates (stitching) is not something visp builds' },
  [NS.delay]: { action: 'refuse', why: 'a delay node is how Emulab shapes a link; in visp give the link property elements (capacity, latency, packet_loss)' },
};

/** What to do with `el`, found inside a `context` element (rspec, node, interface, link), that the request reader does not model. */
export function verdict(el: Element, context: keyof typeof GENI_UNMODELLED): Verdict {
  if (el.namespaceURI === GENI_V3) {
    return GENI_UNMODELLED[context]?.[el.localName ?? ''] ?? { action: 'refuse', why: `visp does not know <${el.localName}> inside <${context}> (a GENI v3 request element it cannot honour, or a misspelling)` };
  }
  return BY_NAMESPACE[el.namespaceURI ?? ''] ?? { action: 'ignore', why: `an extension (${el.namespaceURI ?? 'no namespace'}) visp does not know` };
}

/** A sliver_type visp refuses rather than ignores (it asks for shaping by other means). */
export const refusedSliverType = (name: string | null): Verdict | undefined =>
  name === 'delay' ? BY_NAMESPACE[NS.delay] : undefined;
