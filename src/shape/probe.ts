// Which of the qdiscs visp shapes with this kernel has: each is put, for
// real, on the loopback of a scratch namespace (module autoloading
// included), as the tunnel probe does for link kinds. A node reports the
// answer when it registers; the controller refuses a link whose properties
// need a qdisc a member's node lacks (FAILED_PRECONDITION naming the module),
// and the agent refuses such an endpoint itself too.
import { randomBytes } from 'node:crypto';
import { IncompatibleStateError, KernelError } from '../errors.js';
import { netnsAdd, netnsDel } from '../netlink/netns.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { qdiscDel, qdiscReplace, TC_H } from '../netlink/tc.js';
import { linkGet, linkSet } from '../netlink/link.js';
import { qdiscsNeeded, netemFields, PROPERTY_FIELD, type LinkProperties, type PropertyName } from './properties.js';
import { qdiscSpecOf, shaperFor, type ShaperQdisc } from './tree.js';

export const SHAPER_QDISCS = ['tbf', 'netem', 'blackhole'] as const;
export type ShaperKind = typeof SHAPER_QDISCS[number];
/** The kernel module each comes in (blackhole is built into the qdisc core). */
export const QDISC_MODULE: Readonly<Record<ShaperKind, string>> = { tbf: 'sch_tbf', netem: 'sch_netem', blackhole: 'sch_blackhole' };
/** What each does for a link, for messages. */
const QDISC_ROLE: Readonly<Record<ShaperKind, string>> = { tbf: 'capacity', netem: 'latency, jitter, loss, corruption and reordering', blackhole: 'loss 100%' };

export interface ShaperSupport { qdisc: ShaperKind; supported: boolean; reason?: string }

/** A sample of each, as visp would put it on a link. */
const SAMPLE: Readonly<Record<ShaperKind, ShaperQdisc>> = {
  tbf: shaperFor({ capacity: 10_000_000 }, 1500)[0]!,
  netem: shaperFor({ latency: 1000 }, 1500)[0]!,
  blackhole: shaperFor({ loss: 1 }, 1500)[0]!,
};

/** Probe every shaper qdisc in a fresh namespace, then remove it. */
export async function probeShapers(): Promise<ShaperSupport[]> {
  const ns = `visp-probe-q-${process.pid}-${randomBytes(2).toString('hex')}`;
  await netnsAdd(ns);
  const s = new NetlinkSocket({ netns: ns });
  try {
    const lo = await linkGet(s, 'lo');
    if (!lo) throw new Error(`probe namespace ${ns} has no loopback`);
    await linkSet(s, lo.index, { up: true });
    const out: ShaperSupport[] = [];
    for (const kind of SHAPER_QDISCS) {
      try {
        await qdiscReplace(s, qdiscSpecOf(SAMPLE[kind], lo.index), undefined, `probe ${kind}`);
        await qdiscDel(s, { index: lo.index, parent: TC_H.ROOT });
        out.push({ qdisc: kind, supported: true });
      } catch (e) {
        // The kernel's words ride in the message's last parentheses: "ENOENT (Specified qdisc kind is unknown.)".
        const detail = e instanceof Error ? /\(([^()]*)\)$/.exec(e.message)?.[1] : undefined;
        const why = e instanceof KernelError ? `${e.errnoName}${detail ? `: ${detail}` : ''}` : String(e);
        out.push({ qdisc: kind, supported: false, reason: `kernel module ${QDISC_MODULE[kind]} missing (${why})` });
      }
    }
    return out;
  } finally {
    s.close();
    await netnsDel(ns);
  }
}

let once: Promise<ShaperSupport[]> | undefined;
/** Qdiscs are per kernel, not per namespace: probed once per process. */
export const shaperSupport = (): Promise<ShaperSupport[]> => (once ??= probeShapers());

/**
 * Why a node with `support` cannot shape a direction with properties `p`,
 * or undefined. Names the property, the qdisc and its kernel module.
 * Unknown support (a node that did not report it) is not a refusal.
 */
export function shapingRefusal(p: LinkProperties | undefined, support: readonly ShaperSupport[] | undefined): { property: PropertyName; why: string } | undefined {
  if (!support) return undefined;
  for (const q of qdiscsNeeded(p)) {
    const s = support.find((x) => x.qdisc === q);
    if (!s || s.supported) continue;
    const property: PropertyName = q === 'netem' ? netemFields(p)[0]! : q === 'tbf' ? 'capacity' : 'loss';
    return { property, why: `${property} needs the kernel's ${q} qdisc (module ${QDISC_MODULE[q]}, which does ${QDISC_ROLE[q]}): ${s.reason ?? 'not available'}` };
  }
  return undefined;
}

/** The agent's own check, the FAILED_PRECONDITION kind of error (like a missing tunnel module). */
export function assertShapeable(p: LinkProperties | undefined, support: readonly ShaperSupport[]): void {
  const r = shapingRefusal(p, support);
  if (r) throw new IncompatibleStateError(`properties.${PROPERTY_FIELD[r.property]}: ${r.why}`, { field: `properties.${PROPERTY_FIELD[r.property]}` });
}
