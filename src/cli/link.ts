// `visp link`: a link changed at run time (docs/links.md) — its properties
// (SetLinkProperties), down and up (PerformOperationalAction STOP/START),
// now or at a given time, and a scheduled change taken back. As an operator
// (the default: Operator.SetLinkProperties, any slice) or, with --am, as the
// slice's aggregate manager (Links.SetLinkProperties, with an AM's
// certificate in VISP_TLS_*). Down and up are Links calls either way (an
// operator may make them on any slice).
import type { LinkProperties as PbProperties } from '../api/gen/visp/v1/LinkProperties.js';
import { withTimeout } from '../lab/index.js';
import { describeProperties, PROPERTY_NAMES, type PropertyName } from '../shape/properties.js';
import { propertiesFromPb } from '../api/shape-convert.js';
import { parsePercent, parseRate, parseTime } from '../shape/units.js';
import { parseDuration } from '../config/duration.js';
import { command, parse, UsageError, type GroupSpec } from './args.js';
import { json } from './tables.js';
import { withClient } from './target.js';

const CALL_MS = 60_000;
const out = (s: string): void => { process.stdout.write(`${s}\n`); };
const common = {
  controller: { type: 'string', value: 'ADDR', help: 'the controller: host:port or unix:/path (default: $VISP_CONTROLLER, else the one lab that is up)' },
  json: { type: 'boolean', help: 'print the API\'s response as JSON (for scripts)' },
  am: { type: 'boolean', help: 'call as the slice\'s aggregate manager (Links service; VISP_TLS_* name an AM certificate), not as an operator' },
} as const;
const AT = { type: 'string', value: 'TIME', help: 'make the change then: RFC 3339 (2030-01-01T12:00:00Z) or +DURATION from now (+30s, +5m); default now' } as const;

const propertyFlags = Object.fromEntries(PROPERTY_NAMES.map((k) => [k, {
  type: 'string', value: k === 'capacity' ? 'RATE' : k === 'latency' || k === 'jitter' ? 'TIME' : 'PERCENT',
  help: { capacity: 'bit/s of the link\'s frames, e.g. 100Mbit', latency: 'one-way delay, e.g. 20ms', jitter: 'the delay varies within latency ± this', loss: 'packets dropped, e.g. 0.5% (100%: the link fails silently)', corruption: 'packets with a bit flipped, e.g. 0.1%', reorder: 'packets sent ahead of delayed ones, e.g. 1%' }[k],
}])) as Record<PropertyName, { type: 'string'; value: string; help: string }>;

export const LINK_SET = command({
  name: 'link set', args: 'SLICE LINK', positionals: 2,
  summary: 'replace a link\'s properties in place (every one not given: unshaped), now or at a given time',
  flags: {
    ...common, ...propertyFlags,
    from: { type: 'string', multiple: true, value: 'ROUTER:K=V,…', help: 'what one member sends, over the link\'s (e.g. r1:capacity=10Mbit,latency=5ms); repeat per member' },
    at: AT,
  },
  notes: 'Properties: docs/links.md. A change at a given time is kept by the controller (across restarts)\nand listed by `visp describe SLICE`; `visp link cancel SLICE ID` takes it back.',
});
export const LINK_DOWN = command({ name: 'link down', args: 'SLICE [LINK…]', positionals: 64, summary: 'take links down (their interfaces lose carrier); no LINK: every link of the slice', flags: { ...common, at: AT } });
export const LINK_UP = command({ name: 'link up', args: 'SLICE [LINK…]', positionals: 64, summary: 'bring links up again; no LINK: every link of the slice', flags: { ...common, at: AT } });
export const LINK_CANCEL = command({ name: 'link cancel', args: 'SLICE ID', positionals: 2, summary: 'take back a change scheduled for later (its id: visp describe SLICE)', flags: common });
export const LINK: GroupSpec = { name: 'link', summary: 'a link changed at run time: properties, down, up, now or at a given time', subcommands: [LINK_SET, LINK_DOWN, LINK_UP, LINK_CANCEL] };

/** One property flag's text in the API's units. */
function propertyValue(k: PropertyName, text: string, flag: string): number {
  const v = k === 'capacity' ? parseRate(text) : k === 'latency' || k === 'jitter' ? parseTime(text) : parsePercent(text);
  if (typeof v === 'string') throw new UsageError(`link set: ${flag}: ${v}`);
  return v;
}

function toPb(p: Partial<Record<PropertyName, number>>): PbProperties {
  return { capacityBps: p.capacity ?? 0, latencyUs: p.latency ?? 0, jitterUs: p.jitter ?? 0, loss: p.loss ?? 0, corruption: p.corruption ?? 0, reorder: p.reorder ?? 0 };
}

/** "r1:capacity=10Mbit,latency=5ms" → the member and its properties. */
export function parseFrom(text: string): { node: string; properties: PbProperties } {
  const cut = text.indexOf(':');
  if (cut < 1) throw new UsageError(`link set: --from ${JSON.stringify(text)}: expected ROUTER:KEY=VALUE,… (e.g. r1:capacity=10Mbit)`);
  const p: Partial<Record<PropertyName, number>> = {};
  for (const kv of text.slice(cut + 1).split(',').filter(Boolean)) {
    const [k, v] = kv.split('=', 2) as [string, string | undefined];
    if (!(PROPERTY_NAMES as readonly string[]).includes(k) || v === undefined) throw new UsageError(`link set: --from ${JSON.stringify(text)}: ${JSON.stringify(kv)} is not KEY=VALUE with KEY one of ${PROPERTY_NAMES.join(', ')}`);
    p[k as PropertyName] = propertyValue(k as PropertyName, v, `--from ${text}`);
  }
  return { node: text.slice(0, cut), properties: toPb(p) };
}

/** --at: RFC 3339 as it is (the controller checks it), or +DURATION from this machine's clock. */
export function atTime(text: string | undefined, now = Date.now()): string {
  if (text === undefined) return '';
  if (!text.startsWith('+')) return text;
  const ms = parseDuration(text.slice(1));
  if (ms === undefined) throw new UsageError(`--at ${JSON.stringify(text)}: expected +DURATION (e.g. +30s, +5m) or an RFC 3339 time`);
  return new Date(now + ms).toISOString();
}

const when = (at: string, id: string): string => (id ? `scheduled as ${id} for ${at}` : 'done');

export async function linkCmd(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'set') {
    const { values, positionals } = parse(LINK_SET, rest);
    const [slice, link] = positionals;
    if (!slice || !link) throw new UsageError('link set: which slice and link? (visp link set SLICE LINK --capacity 10Mbit …)');
    const p: Partial<Record<PropertyName, number>> = {};
    for (const k of PROPERTY_NAMES) if (values[k] !== undefined) p[k] = propertyValue(k, values[k]!, `--${k}`);
    const members = ((values.from as unknown as string[] | undefined) ?? []).map(parseFrom);
    const at = atTime(values.at);
    const req = { slice, link, properties: toPb(p), members, at };
    const r = await withClient(values.controller, (c) => withTimeout(values.am ? c.links.setLinkProperties(req) : c.operator.setLinkProperties(req), CALL_MS, 'SetLinkProperties'));
    if (values.json) return out(json(r));
    const ends = r.manifest?.slivers.find((s) => s.link === link)?.endpoints ?? [];
    return out(`${slice}/${link}: ${when(at, r.scheduledId)}${r.scheduledId ? '' : `; ${ends.map((e) => `${e.node} sends ${describeProperties(propertiesFromPb(e.properties, 'properties'))}`).join('; ')}`}`);
  }
  if (sub === 'down' || sub === 'up') {
    const { values, positionals } = parse(sub === 'down' ? LINK_DOWN : LINK_UP, rest);
    const [slice, ...links] = positionals;
    if (!slice) throw new UsageError(`link ${sub}: which slice? (visp link ${sub} SLICE [LINK…])`);
    const at = atTime(values.at);
    const r = await withClient(values.controller, (c) => withTimeout(c.links.performOperationalAction({
      slice, slivers: links.map((l) => `${slice}/${l}`), action: sub === 'down' ? 'OPERATIONAL_ACTION_STOP' : 'OPERATIONAL_ACTION_START', at,
    }), CALL_MS, 'PerformOperationalAction'));
    if (values.json) return out(json(r));
    return out(`${slice}: ${links.length ? links.join(', ') : 'every link'} ${sub}: ${when(at, r.scheduledId)}`);
  }
  if (sub === 'cancel') {
    const { values, positionals } = parse(LINK_CANCEL, rest);
    const [slice, id] = positionals;
    if (!slice || !id) throw new UsageError('link cancel: which slice and change? (visp link cancel SLICE ID; the ids: visp describe SLICE)');
    const r = await withClient(values.controller, (c) => withTimeout(values.am ? c.links.cancelScheduledChange({ slice, id }) : c.operator.cancelScheduledChange({ slice, id }), CALL_MS, 'CancelScheduledChange'));
    if (values.json) return out(json(r));
    return out(`${slice}: ${id} cancelled; ${r.manifest?.scheduled.length ?? 0} changes still scheduled`);
  }
  throw new UsageError(`link: ${sub ? `unknown subcommand ${JSON.stringify(sub)}` : 'which subcommand?'} (visp link set|down|up|cancel …; visp link --help)`);
}
