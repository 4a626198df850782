// A client on a thread of its own (started by startBigClient): it encodes the
// big request and decodes the big replies on its own loop, so that the loop
// a test measures is the controller's alone. It runs one call per message
// and answers with the call's time and the size of what came back. With
// `agents`, it also holds an Agent stream per node that reports every
// endpoint of each desired state it receives as ready: the controller's
// pushes and the agents' reports are then real gRPC traffic too.
import * as grpc from '@grpc/grpc-js';
import { parentPort } from 'node:worker_threads';
import { connect } from '../../src/api/client.js';
import type { AllocateRequest } from '../../src/api/gen/visp/v1/AllocateRequest.js';
import type { ConnectResponse__Output } from '../../src/api/gen/visp/v1/ConnectResponse.js';
import { visp } from '../../src/api/proto.js';
import { CertificateFiles, channelCredentials, TLS_CHANNEL_OPTIONS } from '../../src/api/tls.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { startWorker } from '../../src/worker.js';

export type BigCall = { verb: 'allocate'; slice: string; links: number } | { verb: 'status' | 'provision' | 'delete'; slice: string } | { verb: 'reported'; endpoints: number };
export interface BigAnswer { ms: number; slivers: number; ready?: number; error?: string }
export interface BigClientOptions { address: string; am?: TlsFiles; agents?: Array<{ node: string; underlay: string; files: TlsFiles }> }

/** `links` VXLAN IPv6 links between 400 routers spread over nodes n0..n3; the ends of a link are on different nodes. */
export function bigTopology(links: number): AllocateRequest['topology'] {
  const ROUTERS = 400;
  const nodes = Array.from({ length: ROUTERS }, (_, i) => ({ id: `r${i}`, node: `n${i % 4}` }));
  return {
    nodes,
    links: Array.from({ length: links }, (_, k) => {
      const a = k % ROUTERS;
      let b = (k * 7 + 1) % ROUTERS;
      if (b % 4 === a % 4) b = (b + 1) % ROUTERS;
      return { id: `l${k}`, members: [{ node: `r${a}` }, { node: `r${b}` }], encapsulation: 'ENCAPSULATION_VXLAN' as const, ipv6: { enabled: true } };
    }),
  };
}

export interface BigClient { call(c: BigCall): Promise<BigAnswer>; close(): Promise<void> }

/** A client of `o.address` on its own thread (the sources run through tsx, as the tests do). */
export function startBigClient(o: BigClientOptions): BigClient {
  const w = startWorker(new URL(import.meta.url), { bigClient: o });
  const waiting: Array<(a: BigAnswer) => void> = [];
  w.on('message', (a: BigAnswer) => waiting.shift()?.(a));
  return {
    call: (c) => new Promise((resolve) => { waiting.push(resolve); w.postMessage(c); }),
    close: async () => { await w.terminate(); },
  };
}

// ---- the thread ------------------------------------------------------------------
const { workerData } = await import('node:worker_threads');
const opts = (workerData as { bigClient?: BigClientOptions } | undefined)?.bigClient;
if (parentPort && opts) {
  const api = connect(opts.address, opts.am);
  const port = parentPort;
  // Per node, how many endpoints its last report said were ready.
  const ready = new Map<string, number>();
  for (const a of opts.agents ?? []) {
    const { pkg } = visp();
    const client = new pkg.visp.v1.Agent(opts.address, channelCredentials(new CertificateFiles(a.files)), { ...TLS_CHANNEL_OPTIONS, 'grpc.max_receive_message_length': 64 << 20 });
    const s = client.connect();
    s.on('data', (m: ConnectResponse__Output) => {
      if (m.plan) s.write({ planResult: { id: m.plan.id, endpoints: [] } });
      if (!m.desired) return;
      const endpoints = m.desired.endpoints.map((e) => ({ slice: e.slice, link: e.link, state: 'OPERATIONAL_STATE_READY', devices: [`vx${e.key}`], dataplane: 'kernel' }));
      s.write({ report: { generation: m.desired.generation, endpoints, tornDown: m.desired.teardowns.map((t) => t.slice) } });
      ready.set(a.node, endpoints.length);
    });
    s.on('error', (e: grpc.ServiceError) => { if (e.code !== grpc.status.CANCELLED) console.error(`agent ${a.node}: ${e.message}`); });
    s.write({ register: { node: a.node, underlayAddresses: [a.underlay], capabilities: [{ encapsulation: 'ENCAPSULATION_VXLAN', supported: true, reason: '' }], version: 'test' } });
  }
  port.on('message', (c: BigCall) => {
    const t = performance.now();
    if (c.verb === 'reported') {
      // Resolves once the agents' last reports add up to `endpoints` ready (or 20 s pass).
      const poll = (): void => {
        const n = [...ready.values()].reduce((x, y) => x + y, 0);
        if (n === c.endpoints || performance.now() - t > 20_000) port.postMessage({ ms: performance.now() - t, slivers: 0, ready: n } satisfies BigAnswer);
        else setTimeout(poll, 20);
      };
      poll();
      return;
    }
    const run = c.verb === 'allocate' ? api.links.allocate({ slice: c.slice, topology: bigTopology(c.links) }) : api.links[c.verb]({ slice: c.slice });
    run.then(
      (r) => port.postMessage({ ms: performance.now() - t, slivers: r.manifest?.slivers?.length ?? 0, ready: r.manifest?.slivers?.filter((x) => x.operationalState === 'OPERATIONAL_STATE_READY').length ?? 0 } satisfies BigAnswer),
      (e: Error) => port.postMessage({ ms: performance.now() - t, slivers: 0, error: e.message } satisfies BigAnswer),
    );
  });
}
