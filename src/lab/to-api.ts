// The one place a topology read from a file (the controller's model, see
// src/topology) becomes the API's request shape. The conversion is the API's
// own: src/api/convert.ts, beside its inverse.
export { topologyToPb as toApiTopology } from '../api/convert.js';

/** "OPERATIONAL_STATE_READY" → "ready", "ENCAPSULATION_VXLAN" → "vxlan". */
export function enumWord(value: string | number | undefined | null, prefix: string): string {
  if (value === undefined || value === null) return '';
  const s = String(value);
  return (s.startsWith(prefix) ? s.slice(prefix.length) : s).toLowerCase();
}
