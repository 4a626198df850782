// Tunnel devices: one driver file per kind (registered in registry.ts),
// creation/comparison (ensure.ts) and the kernel capability probe.
export { drivers } from './registry.js';
export * from './kinds.js';
export * from './types.js';
export * from './probe.js';
export * from './ensure.js';
export * from './userspace.js';
