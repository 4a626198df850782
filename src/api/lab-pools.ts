// The IPAM pools a controller starts with when none are configured: carved
// from the documentation ranges only, one per class and family.
import type { IpamConfigSpec } from '../ipam/types.js';

export const LAB_POOLS: IpamConfigSpec = {
  pools: [
    { name: 'lab-local-v4', prefix: '192.0.2.0/24', class: 'local', defaultBlockLength: 27, largestBlockLength: 24 },
    { name: 'lab-private-v4', prefix: '198.51.100.0/24', class: 'private', defaultBlockLength: 27, largestBlockLength: 24 },
    { name: 'lab-public-v4', prefix: '203.0.113.0/24', class: 'public', defaultBlockLength: 28, largestBlockLength: 26 },
    { name: 'lab-local-v6', prefix: '2001:db8:1000::/36', class: 'local', defaultBlockLength: 56, largestBlockLength: 48 },
    { name: 'lab-private-v6', prefix: '2001:db8:2000::/36', class: 'private', defaultBlockLength: 56, largestBlockLength: 48 },
    { name: 'lab-public-v6', prefix: '2001:db8:3000::/36', class: 'public', defaultBlockLength: 56, largestBlockLength: 48 },
  ],
};
