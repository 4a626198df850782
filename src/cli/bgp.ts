// BGP egress for the operator: `visp bgp` (every egress node's speaker, its
// sessions and what each slice announces and receives) and `visp egress`
// (configure an egress node: our ASN and router id, its providers).
import type { BgpProvider } from '../api/gen/visp/v1/BgpProvider.js';
import type { EgressNodeStatus__Output } from '../api/gen/visp/v1/EgressNodeStatus.js';
import { withTimeout } from '../lab/index.js';
import { command, parse, positiveInt, UsageError, type GroupSpec } from './args.js';
import { json, table, time } from './tables.js';
import { withClient } from './target.js';

const CALL_MS = 60_000;
const out = (s: string): void => { process.stdout.write(`${s}\n`); };
const common = {
  controller: { type: 'string', value: 'ADDR', help: 'the controller: host:port or unix:/path (default: $VISP_CONTROLLER, else the one lab that is up)' },
  json: { type: 'boolean', help: 'print the API\'s response as JSON (for scripts)' },
} as const;

export const BGP = command({
  name: 'bgp', summary: 'egress nodes: BGP sessions (state, uptime, prefix counts), what each slice announces and receives',
  flags: { ...common, node: { type: 'string', value: 'N', help: 'only egress node N' } },
});
const PROVIDER = 'ADDR,ASN[,password=P][,families=ipv4+ipv6][,max-prefixes=N][,local=OUR-ADDR]';
export const EGRESS_SET = command({
  name: 'egress set', args: 'NODE', positionals: 1, summary: 'make NODE an egress node (replaces its whole egress configuration)',
  flags: {
    ...common,
    asn: { type: 'string', value: 'N', help: 'our AS number on this node (required)' },
    'router-id': { type: 'string', value: 'A', help: 'BGP router id, a dotted quad (required)' },
    provider: { type: 'string', multiple: true, value: PROVIDER, help: 'an upstream provider to peer with' },
    'max-length-v4': { type: 'string', value: 'N', help: 'the longest IPv4 prefix accepted from providers' },
    'max-length-v6': { type: 'string', value: 'N', help: 'the longest IPv6 prefix accepted from providers' },
  },
});
export const EGRESS_REMOVE = command({
  name: 'egress remove', args: 'NODE', positionals: 1, summary: 'stop egress on NODE (refused while a slice egresses there)', flags: common,
});
export const EGRESS: GroupSpec = { name: 'egress', summary: 'BGP egress nodes: configure one, or stop egress on it', subcommands: [EGRESS_SET, EGRESS_REMOVE] };

/** "3h12m" since an RFC 3339 time; "" when unknown. */
function age(since: string, now = Date.now()): string {
  const t = Date.parse(since);
  if (!since || Number.isNaN(t)) return '';
  let s = Math.max(0, Math.round((now - t) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return d ? `${d}d${h}h` : h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`;
}

export function bgpText(nodes: readonly EgressNodeStatus__Output[]): string {
  if (!nodes.length) return 'no egress nodes (configure one with: visp egress set NODE --asn N --router-id A --provider ADDR,ASN)';
  return nodes.map((n) => {
    const c = n.config;
    const head = `egress node ${n.node}: AS${c?.asn ?? '?'}, router id ${c?.routerId ?? '?'}, agent ${n.connected ? 'connected' : 'not connected'}, ` +
      `speaker ${n.running ? `running (gobgpd pid ${n.pid})` : 'not running'}${n.error ? `; error: ${n.error}` : ''}`;
    const peers = n.peers.length
      ? table(['provider', 'asn', 'state', 'for', 'since', 'received', 'accepted', 'advertised'],
        n.peers.map((p) => [p.address, p.asn, p.state, age(p.since), time(p.since), p.received, p.accepted, p.advertised]))
      : `providers: ${c?.providers.map((p) => `${p.address} (AS${p.asn})`).join(', ') || 'none configured'} (no session state reported yet)`;
    const slices = n.slices.length
      ? table(['slice', 'table', 'announced', 'provider routes installed'], n.slices.map((s) => [s.slice, s.table, s.announced, s.routesInstalled]))
      : 'no slice egresses here';
    return [head, peers, slices].join('\n');
  }).join('\n\n');
}

export async function bgpCmd(args: string[]): Promise<void> {
  const { values } = parse(BGP, args);
  const r = await withClient(values.controller, (c) => withTimeout(c.operator.listBgp({ node: values.node ?? '' }), CALL_MS, 'ListBgp'));
  if (values.json) return out(json(r));
  out(bgpText(r.nodes));
}

/** ADDR,ASN[,password=P][,families=ipv4+ipv6][,max-prefixes=N][,local=OUR-ADDR] */
export function parseProvider(text: string): BgpProvider {
  const [address, asn, ...opts] = text.split(',');
  const bad = (why: string): UsageError => new UsageError(`egress set: flag --provider ${JSON.stringify(text)}: ${why} (${PROVIDER})`);
  if (!address || !asn) throw bad('needs an address and an ASN');
  if (!/^\d+$/.test(asn)) throw bad(`${JSON.stringify(asn)} is not an ASN`);
  const p: BgpProvider = { address, asn: Number(asn) };
  for (const o of opts) {
    const [k, v] = [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)];
    if (o.indexOf('=') < 0 || !v) throw bad(`${JSON.stringify(o)} is not key=value`);
    if (k === 'password') p.password = v;
    else if (k === 'families') p.families = v.split('+');
    else if (k === 'max-prefixes') p.maxPrefixes = positiveInt('provider max-prefixes', v);
    else if (k === 'local') p.localAddress = v;
    else throw bad(`unknown option ${JSON.stringify(k)}`);
  }
  return p;
}

export async function egressCmd(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'remove') {
    const { values, positionals } = parse(EGRESS_REMOVE, rest);
    const node = positionals[0];
    if (!node) throw new UsageError('egress remove: which node? (visp egress remove NODE)');
    await withClient(values.controller, (c) => withTimeout(c.operator.setEgressNode({ config: { node }, remove: true }), CALL_MS, 'SetEgressNode'));
    return out(`egress removed from ${node}: its speaker stops (providers get a Cease)`);
  }
  if (sub !== 'set') throw new UsageError(`egress: ${sub ? `unknown subcommand ${JSON.stringify(sub)}` : 'which subcommand?'} (visp egress set NODE …, visp egress remove NODE)`);
  const { values, positionals } = parse(EGRESS_SET, rest);
  const node = positionals[0];
  if (!node) throw new UsageError('egress set: which node? (visp egress set NODE --asn N --router-id A --provider ADDR,ASN …)');
  if (!values.asn) throw new UsageError('egress set: flag --asn is required');
  if (!values['router-id']) throw new UsageError('egress set: flag --router-id is required');
  const providers = ((values.provider as unknown as string[] | undefined) ?? []).map(parseProvider);
  const r = await withClient(values.controller, (c) => withTimeout(c.operator.setEgressNode({
    config: {
      node, asn: positiveInt('asn', values.asn!), routerId: values['router-id']!, providers,
      maxLengthV4: values['max-length-v4'] ? positiveInt('max-length-v4', values['max-length-v4']) : 0,
      maxLengthV6: values['max-length-v6'] ? positiveInt('max-length-v6', values['max-length-v6']) : 0,
    },
  }), CALL_MS, 'SetEgressNode'));
  if (values.json) return out(json(r));
  out(`egress node ${node}: AS${r.config?.asn}, router id ${r.config?.routerId}, providers ${r.config?.providers.map((p) => `${p.address} (AS${p.asn}, ${p.families.join('+')})`).join(', ') || 'none'}`);
}
