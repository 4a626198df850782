// Which addresses of a subnet may be given to an interface. In every case
// the usable addresses form one contiguous range of host offsets.
//
// IPv4: /31 uses both (RFC 3021); otherwise the network and broadcast
// addresses are excluded. IPv6: /127 uses both (RFC 6164); otherwise the
// subnet-router anycast address (offset 0, RFC 4291 §2.6.1) is excluded, and
// on /64 and shorter, where interface ids are 64-bit, so are the 128 reserved
// subnet anycast addresses at the top (RFC 2526).

import { BITS, sizeOf, type Family } from './prefix.js';

export interface HostRange {
  readonly first: bigint;
  readonly last: bigint;
}

export function usableHosts(family: Family, length: number): HostRange {
  const size = sizeOf(family, length);
  if (length === BITS[family] - 1) return { first: 0n, last: 1n };
  if (family === 'ipv4') return { first: 1n, last: size - 2n };
  return { first: 1n, last: length <= 64 ? size - 129n : size - 1n };
}

export const usableCount = (family: Family, length: number): bigint => {
  const r = usableHosts(family, length);
  return r.last - r.first + 1n;
};

/** Why the address at `offset` in a subnet of `length` cannot be assigned; undefined when it can. */
export function unusableReason(family: Family, length: number, offset: bigint): string | undefined {
  const r = usableHosts(family, length);
  if (offset >= r.first && offset <= r.last) return undefined;
  const size = sizeOf(family, length);
  if (family === 'ipv4') return offset === 0n ? 'the network address' : offset === size - 1n ? 'the broadcast address' : undefined;
  return offset === 0n ? 'the subnet-router anycast address (RFC 4291)' : 'a reserved subnet anycast address (RFC 2526)';
}
