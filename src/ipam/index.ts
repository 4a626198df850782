// IPAM: experiment address space (pools → slice blocks → link subnets →
// interface addresses) and link identifiers (GRE keys, VNIs, link group ids),
// kept in a Store. See docs/ipam.md.
export { createIpam, type Ipam, type IpamOptions } from './ipam.js';
export type { Also, WriteOptions } from './op-context.js';
export { systemClock, manualClock, type Clock } from './clock.js';
export { checkInvariants, type Violation } from './check.js';
export { runSweeper, type SweeperOptions } from './sweeper.js';
export { DEFAULT_ALLOCATION_TTL_MS, DEFAULT_COOLDOWN_MS, DEFAULT_ID_RANGES } from './config.js';
export * from './types.js';
