// What one direction of a link does to the traffic it carries: the
// properties a topology asks for (capacity, latency, jitter, loss,
// corruption, reordering), the rules a value must meet (written once here,
// read by the controller's validator and the agent's endpoint check), and
// which of the kernel's qdiscs a set of properties needs. docs/links.md.

/**
 * One direction of a link. Absent (or 0) is "not impaired" for every field.
 * Units: bit/s, microseconds, fractions (0.005 is 0.5%).
 */
export interface LinkProperties {
  /** Rate of the link's frames (Ethernet header included, as a NIC's nominal rate), bit/s. */
  capacity?: number;
  /** Added one-way delay, µs. */
  latency?: number;
  /** Delay varies uniformly within latency ± jitter, µs; packets stay in order. */
  jitter?: number;
  /** Fraction of packets dropped, 0–1; 1 drops everything (a link that is down without saying so). */
  loss?: number;
  /** Fraction of packets with one bit flipped, 0–1. */
  corruption?: number;
  /** Fraction of packets sent at once, ahead of delayed ones, 0–1 (needs latency). */
  reorder?: number;
}

export const PROPERTY_NAMES = ['capacity', 'latency', 'jitter', 'loss', 'corruption', 'reorder'] as const;
export type PropertyName = typeof PROPERTY_NAMES[number];
/** Each property's field in the API (proto/visp/v1/types.proto LinkProperties), which errors name. */
export const PROPERTY_FIELD: Readonly<Record<PropertyName, string>> = {
  capacity: 'capacity_bps', latency: 'latency_us', jitter: 'jitter_us', loss: 'loss', corruption: 'corruption', reorder: 'reorder',
};

/** Capacity bounds, bit/s: below 8 kbit/s a full frame takes seconds; above 10 Tbit/s no node sends. */
export const CAPACITY_RANGE = [8_000, 10_000_000_000_000] as const;
/** Latency and jitter at most 60 s (µs). */
export const MAX_DELAY_US = 60_000_000;

/** The properties that are set (non-zero), or undefined when none is. */
export function shapedOnly(p: LinkProperties | undefined): LinkProperties | undefined {
  if (!p) return undefined;
  const out: LinkProperties = {};
  for (const k of PROPERTY_NAMES) if (p[k]) out[k] = p[k];
  return Object.keys(out).length ? out : undefined;
}

/**
 * One member's sending direction: the link's properties, each replaced by
 * the member's own where it gives one. Undefined: unshaped.
 */
export function effectiveProperties(link: LinkProperties | undefined, member: LinkProperties | undefined): LinkProperties | undefined {
  return shapedOnly({ ...shapedOnly(link), ...shapedOnly(member) });
}

/** Everything dropped: no qdisc but a drop-all one is needed, whatever else is asked. */
export const dropsAll = (p: LinkProperties | undefined): boolean => (p?.loss ?? 0) >= 1;

/** The fields that need netem (delay, jitter, partial loss, corruption, reordering), in PROPERTY_NAMES order. */
export function netemFields(p: LinkProperties | undefined): PropertyName[] {
  if (!p || dropsAll(p)) return [];
  return (['latency', 'jitter', 'loss', 'corruption', 'reorder'] as const).filter((k) => (p[k] ?? 0) > 0);
}

/** The kernel's qdiscs a direction with these properties is shaped with (src/shape/tree.ts). */
export function qdiscsNeeded(p: LinkProperties | undefined): Array<'tbf' | 'netem' | 'blackhole'> {
  if (!p) return [];
  if (dropsAll(p)) return ['blackhole'];
  return [...(p.capacity ? ['tbf' as const] : []), ...(netemFields(p).length ? ['netem' as const] : [])];
}

const isFraction = (v: number): boolean => Number.isFinite(v) && v >= 0 && v <= 1;

/**
 * What is wrong with a direction's properties, naming the field, or
 * undefined. The one rule; messages use the topology file's readable units.
 */
export function propertiesProblem(p: LinkProperties): { field: PropertyName; why: string } | undefined {
  const { capacity, latency, jitter, reorder } = p;
  if (capacity !== undefined && capacity !== 0 && (!Number.isInteger(capacity) || capacity < CAPACITY_RANGE[0] || capacity > CAPACITY_RANGE[1])) {
    return { field: 'capacity', why: `${capacity} bit/s is outside 8 kbit/s–10 Tbit/s (a whole number of bit/s)` };
  }
  for (const k of ['latency', 'jitter'] as const) {
    const v = p[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > MAX_DELAY_US)) return { field: k, why: `${v} µs is outside 0–60 s (a whole number of µs)` };
  }
  for (const k of ['loss', 'corruption', 'reorder'] as const) {
    const v = p[k];
    if (v !== undefined && !isFraction(v)) return { field: k, why: `${v} is not a fraction from 0 to 1 (0%–100%)` };
  }
  if (jitter && jitter > (latency ?? 0)) {
    return { field: 'jitter', why: `${showTime(jitter)} is more than the latency (${showTime(latency ?? 0)}): a packet's delay would go below zero` };
  }
  if (reorder && !latency) return { field: 'reorder', why: 'reordering sends some packets ahead of delayed ones, so it needs a latency' };
  if (reorder && reorder >= 1) return { field: 'reorder', why: '100% would reorder nothing (every packet goes at once); use less than 100%' };
  return undefined;
}

// ---- words, for messages, plans and the CLI ----

/** "100Mbit", "1.5Gbit", "64kbit": a rate as the topology file writes it. */
export function showRate(bps: number): string {
  for (const [unit, n] of [['Tbit', 1e12], ['Gbit', 1e9], ['Mbit', 1e6], ['kbit', 1e3]] as const) {
    if (bps >= n) return `${+(bps / n).toPrecision(6)}${unit}`;
  }
  return `${bps}bit`;
}

/** "20ms", "250us", "1.5s". */
export function showTime(us: number): string {
  if (us >= 1_000_000 && us % 1000 === 0) return `${+(us / 1e6).toPrecision(6)}s`;
  if (us >= 1000) return `${+(us / 1e3).toPrecision(6)}ms`;
  return `${us}us`;
}

/** "0.5%". */
export const showFraction = (f: number): string => `${+(f * 100).toPrecision(6)}%`;

/** "capacity 100Mbit, latency 20ms ± 2ms, loss 0.5%"; "unshaped" when nothing is set. */
export function describeProperties(p: LinkProperties | undefined): string {
  const s = shapedOnly(p);
  if (!s) return 'unshaped';
  const parts: string[] = [];
  if (s.capacity) parts.push(`capacity ${showRate(s.capacity)}`);
  if (s.latency) parts.push(`latency ${showTime(s.latency)}${s.jitter ? ` ± ${showTime(s.jitter)}` : ''}`);
  for (const k of ['loss', 'corruption', 'reorder'] as const) if (s[k]) parts.push(`${k} ${showFraction(s[k])}`);
  return parts.join(', ');
}

/** Same properties (absent and 0 are one). */
export function sameProperties(a: LinkProperties | undefined, b: LinkProperties | undefined): boolean {
  return PROPERTY_NAMES.every((k) => (a?.[k] ?? 0) === (b?.[k] ?? 0));
}
