// Limits that protect the shared controller from one caller. Every refusal is
// a LimitExceededError (RESOURCE_EXHAUSTED) whose message starts with the
// limit's config name, so an AM author knows which knob refused them.
// A slice is one Allocate (it is never extended), so per-slice limits are
// per-request limits as well.
import { LimitExceededError } from '../errors.js';

export interface Limits {
  /** Links in one slice. */
  linksPerSlice: number;
  /** Distinct routers (placed router instances) in one slice. */
  routersPerSlice: number;
  /** Physical nodes one slice may span. */
  nodesPerSlice: number;
  /** Members of one LAN (multipoint link). */
  membersPerLan: number;
  /** Slices one AM may hold at once (any state). */
  slicesPerAm: number;
  /** Addresses (IPv4 count; IPv6 counted per /64) one AM may hold across its slices. */
  addressesPerAm: number;
  /** The largest request message the server decodes, in bytes. */
  requestBytes: number;
  /** Links API calls per second per AM (token bucket: rate, burst). */
  ratePerAm: { perSecond: number; burst: number };
  /** Links API calls of one AM that run at once; more wait their turn (CallGate). */
  callsPerAm: number;
}

export const DEFAULT_LIMITS: Limits = {
  linksPerSlice: 5000,
  routersPerSlice: 5000,
  nodesPerSlice: 1000,
  membersPerLan: 256,
  slicesPerAm: 1000,
  addressesPerAm: 1 << 20,
  // 5,000 links take about 0.3 MB; decoding is on the event loop, so the default stays small.
  requestBytes: 1024 * 1024,
  ratePerAm: { perSecond: 50, burst: 200 },
  // A 500-link Allocate is ~50 ms of work: four at a time leave the loop turns for everyone else.
  callsPerAm: 4,
};

/** Config names (snake_case, as in the controller's YAML config) of each limit. */
export const LIMIT_NAMES: Record<keyof Limits, string> = {
  linksPerSlice: 'limits.links_per_slice',
  routersPerSlice: 'limits.routers_per_slice',
  nodesPerSlice: 'limits.nodes_per_slice',
  membersPerLan: 'limits.members_per_lan',
  slicesPerAm: 'limits.slices_per_am',
  addressesPerAm: 'limits.addresses_per_am',
  requestBytes: 'limits.request_bytes',
  ratePerAm: 'limits.rate_per_am',
  callsPerAm: 'limits.calls_per_am',
};


/** A request's own size, checked before any work: links, routers, physical nodes, LAN members. */
/** What the size checks read: the model's Topology, or the raw request message before conversion. */
export interface SizedTopology { nodes?: ReadonlyArray<{ node?: string }> | null; links?: ReadonlyArray<{ members?: readonly unknown[] | null }> | null }

export function checkRequestLimits(t: SizedTopology | undefined | null, limits: Limits): void {
  if (!t) return;
  const over = (k: keyof Limits, what: string, n: number, max: number): never => {
    throw new LimitExceededError(LIMIT_NAMES[k], `${what.replace('#', String(n))}, more than the limit of ${max}`);
  };
  const links = Array.isArray(t.links) ? t.links : [];
  const nodes = Array.isArray(t.nodes) ? t.nodes : [];
  if (links.length > limits.linksPerSlice) over('linksPerSlice', 'the slice has # links', links.length, limits.linksPerSlice);
  if (nodes.length > limits.routersPerSlice) over('routersPerSlice', 'the slice has # routers', nodes.length, limits.routersPerSlice);
  const physical = new Set(nodes.map((n) => n?.node));
  if (physical.size > limits.nodesPerSlice) over('nodesPerSlice', 'the slice spans # nodes', physical.size, limits.nodesPerSlice);
  links.forEach((l, i) => {
    const n = Array.isArray(l?.members) ? l.members.length : 0;
    if (n > limits.membersPerLan) over('membersPerLan', `topology.links[${i}] has # members`, n, limits.membersPerLan);
  });
}

/** A token bucket per key (an AM's identity): `take` refuses when the bucket is empty. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly rate: Limits['ratePerAm'], private readonly now: () => number = () => Date.now()) {}

  take(key: string): void {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.rate.burst, at: t };
    b.tokens = Math.min(this.rate.burst, b.tokens + ((t - b.at) / 1000) * this.rate.perSecond);
    b.at = t;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      const waitMs = Math.ceil(((1 - b.tokens) / this.rate.perSecond) * 1000);
      throw new LimitExceededError(LIMIT_NAMES.ratePerAm, `more than ${this.rate.perSecond} calls per second (burst ${this.rate.burst}); retry in ${waitMs} ms`);
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    // Full buckets carry no information: drop them so the map stays as small as the set of busy callers.
    if (this.buckets.size > 10_000) for (const [k, v] of this.buckets) if (v.tokens >= this.rate.burst - 1) this.buckets.delete(k);
  }
}

/** Addresses a set of blocks holds: IPv4 addresses, IPv6 counted in /64s. */
export function addressCount(blocks: ReadonlyArray<{ prefix: string }>): number {
  let n = 0;
  for (const b of blocks) {
    const [addr, len] = b.prefix.split('/');
    const l = Number(len);
    n += addr!.includes(':') ? 2 ** Math.max(0, 64 - l) : 2 ** (32 - l);
  }
  return n;
}

/**
 * At most `limit` calls per key (an AM's identity) run at once; the rest
 * wait in order, up to WAITING_FACTOR × limit, beyond which a call is
 * refused. Why, beside the rate limit: calls differ a hundredfold in cost
 * (a Status of a small slice, an Allocate of 5,000 links), and every
 * running call takes its turns on the one event loop. An AM that floods
 * the controller with 16 concurrent Allocates then competes with another
 * AM's Status as four calls, not sixteen; the ones waiting cost nothing.
 */
export class CallGate {
  static readonly WAITING_FACTOR = 16;
  private readonly keys = new Map<string, { running: number; waiting: Array<() => void> }>();
  constructor(private readonly limit: number) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let k = this.keys.get(key);
    if (!k) { k = { running: 0, waiting: [] }; this.keys.set(key, k); }
    if (k.running >= this.limit) {
      if (k.waiting.length >= this.limit * CallGate.WAITING_FACTOR) {
        throw new LimitExceededError(LIMIT_NAMES.callsPerAm, `${k.running} of your calls are running and ${k.waiting.length} waiting, the most this controller queues; wait for answers before sending more`);
      }
      await new Promise<void>((resolve) => k!.waiting.push(resolve));
    } else k.running++;
    try {
      return await fn();
    } finally {
      // The slot passes to the next waiting call (running stays the same), or is freed.
      const next = k.waiting.shift();
      if (next) next();
      else if (--k.running === 0) this.keys.delete(key);
    }
  }

  /** Calls of `key` running and waiting (tests, metrics). */
  load(key: string): { running: number; waiting: number } {
    const k = this.keys.get(key);
    return { running: k?.running ?? 0, waiting: k?.waiting.length ?? 0 };
  }
}
