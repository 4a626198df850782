// Limits that protect the shared controller from one caller. Every refusal is
// a LimitExceededError (RESOURCE_EXHAUSTED) whose message starts with the
// limit's config name, so an AM author knows which knob refused them.
// A slice is one Allocate (it is never extended), so per-slice limits are
// per-request limits as well.

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
}

export const DEFAULT_LIMITS: Limits = {
  linksPerSlice: 5000,
  routersPerSlice: 5000,
  nodesPerSlice: 1000,
  membersPerLan: 256,
  slicesPerAm: 1000,
  addressesPerAm: 1 << 20,
  requestBytes: 4 * 1024 * 1024,
  ratePerAm: { perSecond: 50, burst: 200 },
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
};
