// A real etcd cluster for tests and benchmarks: three members of Debian's
// etcd, each in a network namespace of its own (made and removed by the
// caller's Namespaces: the tests' "vt-…" ones, the benchmarks' "vb-…"),
// joined by a bridge in a hub namespace, 198.18.<subnet>.1–3. Everything
// speaks mutual TLS with certificates from the tests' own CA (lab-pki.ts):
// members to each other on :2380, clients on :2379 inside the namespaces and,
// for the test process itself (which stays in the host's namespace and never
// touches its interfaces), on a unix socket per member in the cluster's
// directory. Members can be killed and started again (same data directory).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { TlsFiles } from '../../src/trust/tls.js';
import { labPki, type LabPki } from './ha-pki.js';
import { poll } from './bgp-env.js';

/** Who makes and removes network namespaces (unique names, lo up). */
export interface Namespaces {
  make(tag: string): string;
  remove(name: string): void;
}

const ipIn = (ns: string, ...args: string[]): void => { execFileSync('ip', ['-n', ns, ...args], { stdio: 'ignore' }); };

/** A hub bridge and three namespaces on it, 198.18.<subnet>.1–3/24 on each one's ul0; returns [hub, …members]. */
function threeOnAHub(netns: Namespaces, tag: string, subnet: number): string[] {
  const hub = netns.make(`${tag}hub`);
  ipIn(hub, 'link', 'add', 'br0', 'type', 'bridge');
  ipIn(hub, 'link', 'set', 'br0', 'up');
  return [hub, ...[1, 2, 3].map((i) => {
    const n = netns.make(`${tag}${i}`);
    ipIn(hub, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', n);
    ipIn(hub, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
    ipIn(n, 'addr', 'add', `198.18.${subnet}.${i}/24`, 'dev', 'ul0');
    ipIn(n, 'link', 'set', 'ul0', 'up');
    return n;
  })];
}

export interface EtcdMember {
  name: string;
  ns: string;
  ip: string;
  /** `unix:/…` for the test process. */
  socket: string;
  proc?: ChildProcess;
}

export interface EtcdCluster {
  dir: string;
  pki: LabPki;
  members: EtcdMember[];
  /** Client TLS files (a controller's certificate). */
  clientTls: TlsFiles;
  /** The store URL for the test process (unix sockets). */
  url(prefix?: string): string;
  /** The store URL for a process inside one of the namespaces (TCP). */
  tcpUrl(prefix?: string): string;
  kill(i: number): void;
  start(i: number): void;
  /** Waits until `i` members answer. */
  healthy(count?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

// What a TLS client on a unix socket checks the member's certificate for (grpc's authority for unix: targets).
export const SERVER_NAME = 'localhost';

let clusters = 0;

export async function startEtcdCluster(dir: string, o: { netns: Namespaces; tag?: string; subnet?: number }): Promise<EtcdCluster> {
  const tag = o.tag ?? 'ec';
  const subnet = o.subnet ?? 40 + ((process.pid + clusters++) % 200);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = await labPki(join(dir, 'pki'));
  const [hub, ...nss] = threeOnAHub(o.netns, tag, subnet);
  const members: EtcdMember[] = nss.map((ns, i) => ({ name: `m${i + 1}`, ns, ip: `198.18.${subnet}.${i + 1}`, socket: `unix:${join(dir, `m${i + 1}.sock:0`)}` }));
  // Each member's certificate names its address (peers, clients in the
  // namespaces) and SERVER_NAME (what clients on the unix sockets check).
  const certs = new Map<string, TlsFiles>();
  for (const m of members) certs.set(m.name, await pki.issue('etcd', m.name, { dns: [SERVER_NAME], ips: [m.ip] }));
  const initialCluster = members.map((m) => `${m.name}=https://${m.ip}:2380`).join(',');

  const startMember = (i: number): void => {
    const m = members[i]!;
    const tls = certs.get(m.name)!;
    const log = openSync(join(dir, `${m.name}.log`), 'a');
    rmSync(join(dir, `${m.name}.sock:0`), { force: true }); // a killed member leaves its socket behind
    const args = [
      'netns', 'exec', m.ns, 'etcd',
      '--name', m.name, '--data-dir', join(dir, `${m.name}.data`),
      '--listen-peer-urls', `https://${m.ip}:2380`, '--initial-advertise-peer-urls', `https://${m.ip}:2380`,
      '--listen-client-urls', `https://${m.ip}:2379,unixs://${m.name}.sock:0`, '--advertise-client-urls', `https://${m.ip}:2379`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `vt-${tag}-${subnet}`,
      '--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, '--client-cert-auth',
      '--peer-cert-file', tls.cert, '--peer-key-file', tls.key, '--peer-trusted-ca-file', tls.ca, '--peer-client-cert-auth',
      // Quick elections on a quiet bridge; room for a big slice's commit.
      '--heartbeat-interval', '50', '--election-timeout', '500',
      '--max-txn-ops', '100000', '--max-request-bytes', '33554432', '--quota-backend-bytes', String(2 * 1024 ** 3),
      '--logger', 'zap', '--log-outputs', 'stderr',
    ];
    m.proc = spawn('ip', args, { cwd: dir, stdio: ['ignore', log, log] });
    m.proc.on('error', () => undefined);
  };

  members.forEach((_, i) => startMember(i));

  const clientTls = pki.controller;
  const cluster: EtcdCluster = {
    dir,
    pki,
    members,
    clientTls,
    url: (prefix) => `etcd://${members.map((m) => m.socket).join(',')}${prefix ? `?prefix=${prefix}` : ''}`,
    tcpUrl: (prefix) => `etcd://${members.map((m) => `${m.ip}:2379`).join(',')}${prefix ? `?prefix=${prefix}` : ''}`,
    kill(i) {
      const m = members[i]!;
      m.proc?.kill('SIGKILL');
      m.proc = undefined;
    },
    start(i) {
      startMember(i);
    },
    async healthy(count = 3, timeoutMs = 30_000) {
      await poll(`${count} etcd members answering`, async () => (await answering(cluster)) >= count, timeoutMs, 200);
    },
    async stop() {
      for (const m of members) m.proc?.kill('SIGKILL');
      await Promise.all(members.map((m) => (m.proc && m.proc.exitCode === null ? new Promise((r) => m.proc!.once('exit', r)) : undefined)));
      for (const ns of [...nss, hub!]) o.netns.remove(ns);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.healthy(3);
  } catch (e) {
    const logs = members.map((m) => (existsSync(join(dir, `${m.name}.log`)) ? readFileSync(join(dir, `${m.name}.log`), 'utf8').split('\n').slice(-5).join('\n') : '')).join('\n');
    await cluster.stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
  return cluster;
}

/** How many members answer a linearizable read now. */
async function answering(c: EtcdCluster): Promise<number> {
  let n = 0;
  for (const m of c.members) {
    if (!m.proc) continue;
    const client = new Etcd3({
      hosts: [m.socket],
      credentials: { rootCertificate: readFileSync(c.clientTls.ca), certChain: readFileSync(c.clientTls.cert), privateKey: readFileSync(c.clientTls.key) },
      dialTimeout: 1000,
      faultHandling: { host: () => ({ execute: async (fn: () => unknown) => fn() }) as never, global: { execute: async (fn: () => unknown) => fn() } as never },
    });
    try {
      await client.get('health').options({ deadline: Date.now() + 1000 });
      n++;
    } catch { /* not (yet) */ } finally {
      client.close();
    }
  }
  return n;
}
