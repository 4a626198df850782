// What a node can shape links with (ShaperSupport), between API messages
// and domain types, by convert.ts's rules (link properties themselves are
// part of a topology and converted there).
import { SHAPER_QDISCS, type ShaperKind, type ShaperSupport } from '../shape/probe.js';
import type { ShaperSupport as PbShaperSupport } from './gen/visp/v1/ShaperSupport.js';
import { flag, list, message, propertiesFromPb, required, text } from './convert.js';
import type { PropertiesChange } from '../controller/shaping.js';

const isShaperKind = (q: string): q is ShaperKind => (SHAPER_QDISCS as readonly string[]).includes(q);

export const shaperSupportToPb = (s: ShaperSupport): PbShaperSupport => ({ qdisc: s.qdisc, supported: s.supported, reason: s.reason ?? '' });

/** What an agent says about its qdiscs; one this version does not know is left out (a newer agent's). */
export function shapersFromPb(v: unknown, field = 'shapers'): ShaperSupport[] {
  return list(v, field, (x, f) => {
    const m = message(x, f) ?? {};
    const qdisc = text(m.qdisc, `${f}.qdisc`);
    const reason = text(m.reason, `${f}.reason`);
    return isShaperKind(qdisc) ? { qdisc, supported: flag(m.supported, `${f}.supported`), ...(reason ? { reason } : {}) } : undefined;
  }).filter((s): s is ShaperSupport => s !== undefined);
}

/** SetLinkPropertiesRequest (Links and Operator) → the change. */
export function propertiesChangeFromPb(r: unknown): { slice: string; change: PropertiesChange } {
  const m = required(r, 'request');
  const properties = propertiesFromPb(m.properties, 'properties');
  const members = list(m.members, 'members', (x, f) => {
    const mm = required(x, f);
    const p = propertiesFromPb(mm.properties, `${f}.properties`);
    return { node: text(mm.node, `${f}.node`), ...(p ? { properties: p } : {}) };
  });
  const link = text(m.link, 'link');
  return { slice: text(m.slice, 'slice'), change: { link, ...(properties ? { properties } : {}), ...(members.length ? { members } : {}) } };
}
