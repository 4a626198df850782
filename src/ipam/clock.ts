// Time as the IPAM sees it, injectable so tests of cooldown and expiry move
// time forward instead of sleeping. Milliseconds since the epoch.
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to (tests, simulations). */
export function manualClock(start = Date.UTC(2030, 0, 1)): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => void (t += ms),
    set: (ms) => void (t = ms),
  };
}
