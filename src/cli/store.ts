// `visp store copy`: a whole store into a new one, e.g. the embedded SQLite
// file into etcd when a second controller comes (docs/deploy.md), or back.
// An etcd store is reached with a controller's certificate (--tls-*).
import { copyStore } from '../store/copy.js';
import { isEtcdUrl } from '../store/etcd-url.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { command, parse, UsageError, type GroupSpec } from './args.js';

export const STORE_COPY = command({
  name: 'store copy',
  summary: 'copy every slice, allocation, cooldown and egress configuration into a new, empty store (controllers stopped)',
  flags: {
    from: { type: 'string', value: 'FILE|URL', help: 'the store to copy: a SQLite file or etcd://HOST:PORT[,…][?prefix=NAME]' },
    to: { type: 'string', value: 'FILE|URL', help: 'the new store (a new SQLite file, or an etcd prefix with nothing under it)' },
    'tls-ca': { type: 'string', value: 'FILE', help: 'for etcd: the CA bundle its members\' certificates chain to' },
    'tls-cert': { type: 'string', value: 'FILE', help: 'for etcd: the client certificate (a controller\'s)' },
    'tls-key': { type: 'string', value: 'FILE', help: 'for etcd: its private key' },
    json: { type: 'boolean', help: 'one JSON line: from, to, revision, keys, bytes' },
  },
  notes: 'Stop every controller on either store first. Agents keep their nodes meanwhile.',
});

export const STORE: GroupSpec = { name: 'store', summary: 'the controller\'s store', subcommands: [STORE_COPY] };

export async function storeCmd(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'copy') throw new UsageError(`store: unknown subcommand ${JSON.stringify(sub ?? '')} (store copy)`);
  const { values: v } = parse(STORE_COPY, rest);
  if (!v.from || !v.to) throw new UsageError('store copy: --from and --to are required');
  const tlsGiven = [v['tls-ca'], v['tls-cert'], v['tls-key']].filter((x) => x !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new UsageError('store copy: give all three of --tls-ca, --tls-cert, --tls-key, or none');
  if (tlsGiven === 0 && (isEtcdUrl(v.from) || isEtcdUrl(v.to))) throw new UsageError('store copy: etcd needs a client certificate: --tls-ca, --tls-cert, --tls-key');
  const tls = tlsGiven ? { ca: v['tls-ca']!, cert: v['tls-cert']!, key: v['tls-key']! } : undefined;
  const opened: Store[] = [];
  try {
    const from = await openStore(v.from, tls ? { tls } : {});
    opened.push(from);
    const to = await openStore(v.to, tls ? { tls } : {});
    opened.push(to);
    const r = await copyStore(from, to);
    if (v.json) process.stdout.write(`${JSON.stringify({ from: v.from, to: v.to, ...r })}\n`);
    else process.stdout.write(`copied ${r.keys} key${r.keys === 1 ? '' : 's'} (${r.bytes} bytes) from ${v.from} at revision ${r.revision} to ${v.to}\n`);
  } finally {
    for (const s of opened) await s.close();
  }
}
