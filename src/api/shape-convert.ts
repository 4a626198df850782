// Link properties (docs/links.md) between API messages and domain types, by
// convert.ts's rules: total converters, a bad value refused naming the field;
// ranges are the validator's to judge, here only types. convert.ts uses these
// for the messages that carry them (topologies, manifests, Register, …).
import { SHAPER_QDISCS, type ShaperKind, type ShaperSupport } from '../shape/probe.js';
import { shapedOnly, type LinkProperties } from '../shape/properties.js';
import type { PropertiesChange } from '../controller/shaping.js';
import type { LinkProperties as PbProperties } from './gen/visp/v1/LinkProperties.js';
import type { SetLinkPropertiesRequest__Output as PbSetLinkProperties } from './gen/visp/v1/SetLinkPropertiesRequest.js';
import type { ShaperSupport as PbShaperSupport } from './gen/visp/v1/ShaperSupport.js';
import { badInput, badOutput, flag, list, message, required, shown, text, type Refuse } from './fields.js';

/** A uint32/uint64 field (proto-loader gives 64-bit ones as numbers). */
function whole(v: unknown, field: string, max: number, refuse: Refuse): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw refuse(field, `expected a whole number 0–${max}, got ${shown(v)}`);
  return v;
}

/** A bit/s figure (uint64) for a message. */
export const bps = (v: unknown, field: string, refuse: Refuse = badOutput): number => whole(v, field, Number.MAX_SAFE_INTEGER, refuse);

function real(v: unknown, field: string, refuse: Refuse): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw refuse(field, `expected a number, got ${shown(v)}`);
  return v;
}

/** A message's properties; undefined when absent or all zero (unshaped). */
export function propertiesFromPb(v: unknown, field: string): LinkProperties | undefined {
  const m = message(v, field);
  if (!m) return undefined;
  return shapedOnly({
    capacity: whole(m.capacityBps, `${field}.capacity_bps`, Number.MAX_SAFE_INTEGER, badInput),
    latency: whole(m.latencyUs, `${field}.latency_us`, 0xffffffff, badInput),
    jitter: whole(m.jitterUs, `${field}.jitter_us`, 0xffffffff, badInput),
    loss: real(m.loss, `${field}.loss`, badInput),
    corruption: real(m.corruption, `${field}.corruption`, badInput),
    reorder: real(m.reorder, `${field}.reorder`, badInput),
  });
}

/** Properties for a message; undefined (the field left unset) when unshaped. */
export function propertiesToPb(p: LinkProperties | undefined, field = 'properties'): PbProperties | undefined {
  const s = shapedOnly(p);
  if (!s) return undefined;
  return {
    capacityBps: whole(s.capacity, `${field}.capacity_bps`, Number.MAX_SAFE_INTEGER, badOutput),
    latencyUs: whole(s.latency, `${field}.latency_us`, 0xffffffff, badOutput),
    jitterUs: whole(s.jitter, `${field}.jitter_us`, 0xffffffff, badOutput),
    loss: real(s.loss, `${field}.loss`, badOutput), corruption: real(s.corruption, `${field}.corruption`, badOutput), reorder: real(s.reorder, `${field}.reorder`, badOutput),
  };
}


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
export function propertiesChangeFromPb(r: PbSetLinkProperties | null | undefined): { slice: string; change: PropertiesChange } {
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
