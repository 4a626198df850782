// Link properties as people write them in a topology file: "100Mbit",
// "1.5Gbit/s", "20ms", "250us", "0.5%". Each parser returns the model's
// unit (bit/s, µs, fraction) or why the text is not one; a bare number is
// refused, since tc reads one as bytes and people read it as bits.

/** Examples for error messages. */
export const RATE_EXAMPLES = '64kbit, 100Mbit, 1.5Gbit';
export const TIME_EXAMPLES = '250us, 20ms, 1.5s';
export const PERCENT_EXAMPLES = '0.5%, 2%, 100%';

const RATE = /^(\d+(?:\.\d+)?)\s*(k|ki|m|mi|g|gi|t|ti)?(bit|bps)(\/s)?$/i;
const RATE_SCALE: Readonly<Record<string, number>> = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: 1024 ** 2, g: 1e9, gi: 1024 ** 3, t: 1e12, ti: 1024 ** 4 };

/** bit/s, or why not. "100Mbit", "100 Mbit/s", "100mbps" (SI prefixes), "1Gibit" (binary). */
export function parseRate(text: string): number | string {
  const m = RATE.exec(text.trim());
  if (!m) return `${JSON.stringify(text)} is not a rate: give bits per second with a unit, e.g. ${RATE_EXAMPLES}`;
  const bps = Number(m[1]) * RATE_SCALE[(m[2] ?? '').toLowerCase()]!;
  // 0 is "unshaped": a rate above it that rounds to it would lift the shaper instead of setting one.
  if (bps > 0 && Math.round(bps) === 0) return `${JSON.stringify(text)} is less than a bit per second`;
  return Math.round(bps);
}

const TIME = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)$/;
const TIME_SCALE: Readonly<Record<string, number>> = { ns: 1e-3, us: 1, µs: 1, ms: 1e3, s: 1e6 };

/** µs (whole), or why not. "20ms", "250us", "1.5s"; "0" alone is zero. */
export function parseTime(text: string): number | string {
  const t = text.trim();
  if (t === '0') return 0;
  const m = TIME.exec(t);
  if (!m) return `${JSON.stringify(text)} is not a time: give it with a unit, e.g. ${TIME_EXAMPLES}`;
  const us = Number(m[1]) * TIME_SCALE[m[2]!]!;
  if (us > 0 && Math.round(us) === 0) return `${JSON.stringify(text)} is less than a microsecond, the finest visp keeps`;
  return Math.round(us);
}

const PERCENT = /^(\d+(?:\.\d+)?)\s*%$/;

/** A fraction (0.005 for "0.5%"), or why not; "0" alone is zero. */
export function parsePercent(text: string): number | string {
  const t = text.trim();
  if (t === '0') return 0;
  const m = PERCENT.exec(t);
  if (!m) return `${JSON.stringify(text)} is not a percentage: give it with %, e.g. ${PERCENT_EXAMPLES}`;
  return Number(m[1]) / 100;
}
