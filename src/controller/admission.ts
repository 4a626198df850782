// Dedicated capacity (docs/links.md): a guaranteed link reserves its
// capacity on every member node's underlay, each direction where it is
// carried — the sender's underlay sends it, each receiver's receives it —
// and a node admits guaranteed links only while what they reserve, sending
// and receiving each, stays within what its underlay carries (its agent
// reports it: the devices' speed, or configured). The figures are the links'
// capacities, frames as the shaper counts them; the encapsulation's headers
// on the underlay (3–4% at full-size frames) are not added.
import { IncompatibleStateError, PoolExhaustedError } from '../errors.js';
import { showRate } from '../shape/properties.js';
import type { LinkRecord, NodeRecord } from './model.js';

/** bit/s a node's underlay has reserved, sending and receiving. */
export interface Use { send: number; receive: number }
export type Reserved = Map<string, Use>;

const use = (m: Reserved, node: string): Use => {
  let u = m.get(node);
  if (!u) { u = { send: 0, receive: 0 }; m.set(node, u); }
  return u;
};

/**
 * What one guaranteed link reserves, by physical node: each endpoint sends
 * its capacity, and every other member may receive it (on a LAN all of it
 * could go to one member).
 */
export function reservedByLink(l: LinkRecord, into: Reserved = new Map()): Reserved {
  if (!l.guaranteed) return into;
  for (const e of l.endpoints) {
    const c = e.properties?.capacity ?? 0;
    if (!c) continue;
    use(into, e.physicalNode).send += c;
    for (const o of l.endpoints) if (o !== e) use(into, o.physicalNode).receive += c;
  }
  return into;
}

/** What all these links reserve, by node. */
export function reservedBy(links: Iterable<LinkRecord>, into: Reserved = new Map()): Reserved {
  for (const l of links) reservedByLink(l, into);
  return into;
}

export function sum(...rs: Reserved[]): Reserved {
  const out: Reserved = new Map();
  for (const r of rs) for (const [n, u] of r) { const x = use(out, n); x.send += u.send; x.receive += u.receive; }
  return out;
}

/**
 * Admit `links` (a slice's, `fieldOf(i)` the request's field a refusal of link i names) on
 * top of what `others` reserve: refused with RESOURCE_EXHAUSTED naming the
 * first link that would take a node past its underlay's capacity, the node
 * and the figures; FAILED_PRECONDITION when a node offers no guarantees.
 * Returns what the links reserve.
 */
export function admit(links: readonly LinkRecord[], others: Reserved, nodes: ReadonlyMap<string, NodeRecord>, fieldOf: (i: number) => string): Reserved {
  const mine: Reserved = new Map();
  links.forEach((l, i) => {
    if (!l.guaranteed) return;
    const before = sum(mine);
    reservedByLink(l, mine);
    for (const [node, u] of mine) {
      const had = before.get(node) ?? { send: 0, receive: 0 };
      if (u.send === had.send && u.receive === had.receive) continue;
      const cap = nodes.get(node)?.underlayCapacity;
      const f = fieldOf(i);
      if (!cap) {
        throw new IncompatibleStateError(`${f}: node ${node} offers no guaranteed capacity (its agent reports no underlay capacity: set underlay_capacity in its config, docs/config.md)`, { field: f });
      }
      const o = others.get(node) ?? { send: 0, receive: 0 };
      for (const dir of ['send', 'receive'] as const) {
        if (o[dir] + u[dir] <= cap) continue;
        const verb = dir === 'send' ? 'sending' : 'receiving';
        const shown = (bps: number): string => (bps ? showRate(bps) : 'none');
        throw new PoolExhaustedError(`${f}: node ${node}'s underlay carries ${showRate(cap)} ${verb}; guaranteed links already reserve ${shown(o[dir])} of that, `
          + `and this slice would add ${showRate(u[dir])} (${shown(Math.max(0, cap - o[dir]))} left)`, { field: f });
      }
    }
  });
  return mine;
}
