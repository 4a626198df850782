// What a node can shape links with (ShaperSupport), between API messages
// and domain types, by convert.ts's rules (link properties themselves are
// part of a topology and converted there).
import { SHAPER_QDISCS, type ShaperKind, type ShaperSupport } from '../shape/probe.js';
import type { ShaperSupport as PbShaperSupport } from './gen/visp/v1/ShaperSupport.js';
import { flag, list, message, text } from './convert.js';

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
