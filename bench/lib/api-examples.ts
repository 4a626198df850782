// The examples in docs/api.md, from a real run: a 3-node lab (the same
// processes as bench/lab.ts), one slice through the whole lifecycle, the
// operator's calls, and a handful of bad requests. Prints each request and
// response as grpcurl would show them (proto3 JSON: lowerCamelCase names,
// enum names, default values left out, 64-bit integers as strings).
//   node dist/bench/lib/api-examples.js > /tmp/api-examples.md
import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AllocateRequest } from '../../src/api/gen/visp/v1/AllocateRequest.js';
import { visp } from '../../src/api/proto.js';
import { cleanupLabsOnSignal, Lab } from './lab-env.js';

interface Field { name: string; number: number; type: string; typeName: string }
const camel = (n: string): string => n.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** proto3 JSON as grpcurl prints it: fields in declaration order, defaults dropped, 64-bit integers as strings. */
function pj(v: unknown, type: string): unknown {
  const { def } = visp();
  const d = def[`visp.v1.${type}`] as { type: { field: Field[] } } | undefined;
  if (!d || !v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of [...d.type.field].sort((a, b) => a.number - b.number)) {
    const k = camel(f.name);
    const conv = (x: unknown): unknown => {
      if (f.type === 'TYPE_MESSAGE') return pj(x, f.typeName);
      if (f.type === 'TYPE_UINT64' || f.type === 'TYPE_INT64') return String(x);
      return x;
    };
    const x = o[k];
    if (x === undefined || x === null || x === '' || x === 0 || x === false || (typeof x === 'string' && x.endsWith('_UNSPECIFIED'))) continue;
    if (Array.isArray(x)) { if (x.length) out[k] = x.map(conv); continue; }
    out[k] = conv(x);
  }
  return out;
}
const show = (v: unknown, type: string): string => JSON.stringify(pj(v, type), null, 2);
const reqText = (v: unknown, type: string): string => (typeof v === 'string' ? v : JSON.stringify(pj(v, type)));
const typeOf = (rpc: string, kind: 'Request' | 'Response'): string => `${rpc.split('/')[1]}${kind}`;
/**
 * How grpcurl reaches the controller for `rpc`: Links as the AM on the
 * plaintext socket; Operator with an operator's certificate on the mTLS
 * socket ($OPERATOR_TLS stands for grpcurl's TLS flags with those files).
 */
const target = (rpc: string): string => (rpc.startsWith('visp.v1.Operator/') ? '$OPERATOR_TLS -unix -d' : '-plaintext -unix -d');
const sock = (rpc: string): string => (rpc.startsWith('visp.v1.Operator/') ? '$TLS_SOCK' : '$SOCK');

function section(title: string, rpc: string, req: unknown, res: unknown): void {
  process.stdout.write(`\n### ${title}\n\n$ grpcurl ${target(rpc)} '${reqText(req, typeOf(rpc, 'Request'))}' ${sock(rpc)} ${rpc}\n${show(res, typeOf(rpc, 'Response'))}\n`);
}

function errorSection(title: string, rpc: string, req: unknown, e: ServiceError): void {
  const md = Object.fromEntries(Object.entries(e.metadata?.getMap() ?? {}).filter(([k]) => k.startsWith('visp-')));
  process.stdout.write(`\n### ${title}\n\n$ grpcurl ${target(rpc)} '${reqText(req, typeOf(rpc, 'Request'))}' ${sock(rpc)} ${rpc}\nERROR:\n  Code: ${status[e.code]}\n  Message: ${e.details}\n  Trailers: ${JSON.stringify(md)}\n`);
}

async function expectError(title: string, rpc: string, req: unknown, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
    process.stdout.write(`\n### ${title}\n\nUNEXPECTED: ${rpc} succeeded\n`);
  } catch (e) {
    errorSection(title, rpc, req, e as ServiceError);
  }
}

const SLICE = 'exp1';

function topology(): AllocateRequest['topology'] {
  return {
    nodes: [{ id: 'r1', node: 'n0' }, { id: 'r2', node: 'n1' }, { id: 'r3', node: 'n2' }],
    links: [
      { id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_VXLAN' },
      { id: 'r2-r3', members: [{ node: 'r2' }, { node: 'r3' }], addressClass: 'ADDRESS_CLASS_PRIVATE', mtu: 1400, ipv4: { enabled: true }, ipv6: { enabled: true } },
      {
        id: 'lan', encapsulation: 'ENCAPSULATION_VXLAN', ipv4: { enabled: true, prefixLength: 29 },
        members: [{ node: 'r1', ifname: 'lan0', ipv4: '192.0.2.65' }, { node: 'r2', ifname: 'lan0', ipv4: '192.0.2.66' }, { node: 'r3', ifname: 'lan0' }],
      },
    ],
  };
}

async function main(): Promise<void> {
  cleanupLabsOnSignal();
  for (const r of ['r1', 'r2', 'r3']) {
    if (existsSync(`/run/netns/visp-${SLICE}-${r}`)) throw new Error(`visp-${SLICE}-${r} exists already (someone else's slice "${SLICE}"?)`);
  }
  const lab = new Lab(3);
  for (const r of ['r1', 'r2', 'r3']) lab.expNamespaces.add(`visp-${SLICE}-${r}`);
  try {
    await lab.startController();
    await lab.startAgents();
    await sleep(500);
    const api = lab.api;
    const op = lab.operatorApi.operator; // Operator calls need an operator's certificate (the mTLS socket)
    const events = op.watchEvents({ slice: SLICE });
    const seen: unknown[] = [];
    const watching = (async () => { for await (const e of events) seen.push(e); })().catch(() => undefined);

    section('GetVersion', 'visp.v1.Links/GetVersion', {}, await api.links.getVersion({}));
    section('ListResources', 'visp.v1.Links/ListResources', {}, await api.links.listResources({}));
    const req: AllocateRequest = { slice: SLICE, topology: topology() };
    section('Plan (dry run)', 'visp.v1.Operator/Plan', req, await op.plan(req));
    section('Allocate', 'visp.v1.Links/Allocate', req, await api.links.allocate(req));
    section('Status after Allocate', 'visp.v1.Links/Status', { slice: SLICE }, await api.links.status({ slice: SLICE }));
    section('Provision', 'visp.v1.Links/Provision', { slice: SLICE }, await api.links.provision({ slice: SLICE }));
    section('Status right after Provision', 'visp.v1.Links/Status', { slice: SLICE }, await api.links.status({ slice: SLICE }));
    for (;;) {
      const m = (await api.links.status({ slice: SLICE })).manifest!;
      if (m.operationalState === 'OPERATIONAL_STATE_READY') break;
      if (m.operationalState === 'OPERATIONAL_STATE_FAILED') throw new Error(`failed: ${JSON.stringify(pj(m, 'Manifest'))}`);
      await sleep(100);
    }
    section('Status when ready', 'visp.v1.Links/Status', { slice: SLICE }, await api.links.status({ slice: SLICE }));
    const ping = (ns: string, to: string): string => execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '3', to], { encoding: 'utf8' }).trim().split('\n').slice(-2).join(' | ');
    process.stdout.write(`\n### ping\n\n${ping(`visp-${SLICE}-r1`, '192.0.2.66')}\n`);
    section('Describe', 'visp.v1.Links/Describe', { slice: SLICE }, await api.links.describe({ slice: SLICE }));
    const end = new Date(Date.now() + 6 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    section('Renew', 'visp.v1.Links/Renew', { slice: SLICE, endTime: end }, await api.links.renew({ slice: SLICE, endTime: end }));
    const stop = { slice: SLICE, slivers: [`${SLICE}/r1-r2`], action: 'OPERATIONAL_ACTION_STOP' as const };
    section('PerformOperationalAction stop', 'visp.v1.Links/PerformOperationalAction', stop, await api.links.performOperationalAction(stop));
    await sleep(1500);
    section('Status after stop', 'visp.v1.Links/Status', { slice: SLICE }, await api.links.status({ slice: SLICE }));
    const restart = { slice: SLICE, slivers: [`${SLICE}/r1-r2`], action: 'OPERATIONAL_ACTION_RESTART' as const };
    section('PerformOperationalAction restart', 'visp.v1.Links/PerformOperationalAction', restart, await api.links.performOperationalAction(restart));
    const start = { slice: SLICE, slivers: [], action: 'OPERATIONAL_ACTION_START' as const };
    section('PerformOperationalAction start', 'visp.v1.Links/PerformOperationalAction', start, await api.links.performOperationalAction(start));
    await sleep(1500);
    section('ListNodes', 'visp.v1.Operator/ListNodes', {}, await op.listNodes({}));
    section('ListSlices', 'visp.v1.Operator/ListSlices', {}, await op.listSlices({}));
    section('ListTunnels', 'visp.v1.Operator/ListTunnels', { node: 'n1' }, await op.listTunnels({ node: 'n1' }));
    section('GetTunnel', 'visp.v1.Operator/GetTunnel', { sliver: `${SLICE}/lan`, node: 'n2' }, await op.getTunnel({ sliver: `${SLICE}/lan`, node: 'n2' }));

    // Bad requests.
    const bad = (t: AllocateRequest['topology']): AllocateRequest => ({ slice: 'exp2', topology: t });
    const one = topology()!;
    await expectError('Allocate: same slice again', 'visp.v1.Links/Allocate', req, () => api.links.allocate(req));
    const r1 = bad({ ...one, links: [{ id: 'x', members: [{ node: 'r1' }] }] });
    await expectError('Allocate: a link with one member', 'visp.v1.Links/Allocate', r1, () => api.links.allocate(r1));
    const r2 = bad({ ...one, nodes: [...one.nodes!, { id: 'r4', node: 'n9' }] });
    await expectError('Allocate: unknown physical node', 'visp.v1.Links/Allocate', r2, () => api.links.allocate(r2));
    const r3 = bad({ ...one, links: [{ id: 'x', members: [{ node: 'r1', ifname: 'a-very-long-ifname' }, { node: 'r2' }] }] });
    await expectError('Allocate: not an interface name', 'visp.v1.Links/Allocate', r3, () => api.links.allocate(r3));
    const r4 = bad({ ...one, links: [{ id: 'x', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_GRE' }] });
    await expectError('Allocate: a kind the nodes lack', 'visp.v1.Links/Allocate', r4, () => api.links.allocate(r4));
    const r5 = bad({ ...one, links: [{ id: 'x', members: [{ node: 'r1', ipv4: '198.51.100.7' }, { node: 'r2' }], ipv4: { enabled: true } }] });
    await expectError('Allocate: explicit address outside the pools', 'visp.v1.Links/Allocate', r5, () => api.links.allocate(r5));
    const r6 = bad({ ...one, links: [{ id: 'x', members: [{ node: 'r1' }, { node: 'r2' }], addressClass: 'ADDRESS_CLASS_PUBLIC', ipv4: { enabled: true, prefixLength: 24 } }] });
    await expectError('Allocate: a point-to-point prefix length', 'visp.v1.Links/Allocate', r6, () => api.links.allocate(r6));
    // Fill the public IPv4 pool (a /24, at most a /26 per slice) with four slices, then ask for a fifth.
    const publicLinks = (k: number) => ({
      nodes: one.nodes!,
      links: Array.from({ length: k }, (_, i) => ({ id: `l${i}`, members: [{ node: 'r1', ifname: `a${i}` }, { node: 'r2', ifname: `b${i}` }], addressClass: 'ADDRESS_CLASS_PUBLIC' as const, ipv4: { enabled: true } })),
    });
    for (let i = 1; i <= 4; i++) await api.links.allocate({ slice: `fill${i}`, topology: publicLinks(20) });
    const r6b = { slice: 'exp2', topology: publicLinks(20) };
    await expectError('Allocate: pool exhausted', 'visp.v1.Links/Allocate', '{"slice":"exp2","topology":{… 20 point-to-point links, ADDRESS_CLASS_PUBLIC, after fill1…fill4 took a /26 each …}}', () => api.links.allocate(r6b));
    for (let i = 1; i <= 4; i++) await api.links.delete({ slice: `fill${i}` });
    const r7 = { slice: SLICE, endTime: '2001-01-01T00:00:00Z' };
    await expectError('Renew: a time in the past', 'visp.v1.Links/Renew', r7, () => api.links.renew(r7));
    await expectError('Status: unknown slice', 'visp.v1.Links/Status', { slice: 'nope' }, () => api.links.status({ slice: 'nope' }));
    const r8 = { slice: SLICE, slivers: [`${SLICE}/nope`], action: 'OPERATIONAL_ACTION_STOP' as const };
    await expectError('PerformOperationalAction: unknown sliver', 'visp.v1.Links/PerformOperationalAction', r8, () => api.links.performOperationalAction(r8));
    const a2 = { slice: 'exp3', topology: { nodes: one.nodes!, links: [one.links![0]!] } };
    await api.links.allocate(a2);
    const r9 = { slice: 'exp3', slivers: [], action: 'OPERATIONAL_ACTION_STOP' as const };
    await expectError('PerformOperationalAction before Provision', 'visp.v1.Links/PerformOperationalAction', r9, () => api.links.performOperationalAction(r9));
    await api.links.delete({ slice: 'exp3' });
    lab.expNamespaces.add('visp-exp3:r1').add('visp-exp3:r2');

    section('Shutdown', 'visp.v1.Links/Shutdown', { slice: SLICE }, await api.links.shutdown({ slice: SLICE }));
    await expectError('Provision after Shutdown', 'visp.v1.Links/Provision', { slice: SLICE }, () => api.links.provision({ slice: SLICE }));
    section('Delete', 'visp.v1.Links/Delete', { slice: SLICE }, await api.links.delete({ slice: SLICE }));
    await sleep(1500);
    events.cancel();
    await watching;
    process.stdout.write('\n### WatchEvents\n\n');
    process.stdout.write(`$ grpcurl ${target('visp.v1.Operator/WatchEvents')} '{"slice":"${SLICE}"}' $TLS_SOCK visp.v1.Operator/WatchEvents\n`);
    for (const e of seen) process.stdout.write(`${JSON.stringify(pj(e, 'WatchEventsResponse'))}\n`);
  } finally {
    await lab.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`api-examples failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
