// Durations as people write them: "500ms", "2s", "1.5m", "8h", "2d". One
// grammar for config files and flags; a flag may also take a bare number in
// a unit of its own (seconds for lab timeouts, milliseconds for
// --reconcile-interval, as before config files existed).

export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Readonly<Record<DurationUnit, number>> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };
const GRAMMAR = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** Examples for error messages. */
export const DURATION_EXAMPLES = '500ms, 2s, 15m, 8h, 2d';

/**
 * Milliseconds, or undefined when `text` is not a duration. A bare number is
 * read in `bare`; without `bare` a unit is required.
 */
export function parseDuration(text: string, bare?: DurationUnit): number | undefined {
  const m = GRAMMAR.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] as DurationUnit | undefined) ?? bare;
  if (!unit) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[unit]);
}
