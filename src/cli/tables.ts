// Output for people: aligned columns, short state words, "-" for nothing.
// (Scripts use --json, which prints the API's own objects.)
import { enumWord } from '../lab/index.js';

export type Cell = string | number | boolean | undefined | null | readonly string[];

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const text = [header.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(cell))];
  const widths = header.map((_, c) => Math.max(...text.map((r) => (r[c] ?? '').length)));
  return text.map((r) => r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

export function cell(v: Cell): string {
  if (v === undefined || v === null || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.join(',') : '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** "OPERATIONAL_STATE_READY" → "ready"; unspecified → "". */
export function word(value: string | number | undefined | null, prefix: string): string {
  const w = enumWord(value, prefix);
  return w === 'unspecified' ? '' : w;
}

export const opState = (v: string | number | undefined): string => word(v, 'OPERATIONAL_STATE_');
export const allocState = (v: string | number | undefined): string => word(v, 'ALLOCATION_STATE_');
export const encap = (v: string | number | undefined): string => word(v, 'ENCAPSULATION_');
export const addrClass = (v: string | number | undefined): string => word(v, 'ADDRESS_CLASS_') || 'local';

/** 1234567 → "1.2M". */
export function count(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1000) return String(n);
  const units = ['k', 'M', 'G', 'T'];
  let v = n, i = -1;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** RFC 3339 → "2025-01-02 15:04:05Z"; empty stays empty. */
export const time = (t: string | undefined): string => (t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
