// An endpoint's health from its pairs' (pair.ts): what state a ready
// endpoint is shown in, and why. A link endpoint is down when no member
// answers, degraded when some do not (a LAN) or too many probes are lost.
import type { PairHealth } from './pair.js';

export interface HealthVerdict { state: 'down' | 'degraded'; reason: string }

/** undefined: healthy, or not decided yet. */
export function verdict(pairs: readonly PairHealth[], degradedLoss: number): HealthVerdict | undefined {
  if (!pairs.length) return undefined;
  const dead = pairs.filter((p) => p.alive === false);
  if (dead.length && dead.length === pairs.length) return { state: 'down', reason: dead.map((p) => p.reason).join('; ') };
  if (dead.length) return { state: 'degraded', reason: `${dead.length} of ${pairs.length} members unreachable: ${dead.map((p) => p.reason).join('; ')}` };
  const lossy = pairs.filter((p) => p.alive && p.loss >= degradedLoss);
  if (lossy.length) {
    // Worded without the figure, so a loss that wobbles is one event, not one per report (the figure is in the pair's health).
    return { state: 'degraded', reason: lossy.map((p) => `${Math.round(degradedLoss * 100)}% or more of probes to ${p.remote} lost`).join('; ') };
  }
  return undefined;
}
