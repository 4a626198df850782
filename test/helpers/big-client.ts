// A client on a thread of its own (started by startBigClient): it encodes the
// big request and decodes the big replies on its own loop, so that the loop
// a test measures is the controller's alone. It runs one call per message
// and answers with the call's time and the size of what came back.
import { parentPort, Worker } from 'node:worker_threads';
import { connect } from '../../src/api/client.js';
import type { AllocateRequest } from '../../src/api/gen/visp/v1/AllocateRequest.js';

export type BigCall = { verb: 'allocate'; slice: string; links: number } | { verb: 'status' | 'provision' | 'delete'; slice: string };
export interface BigAnswer { ms: number; slivers: number; error?: string }

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

/** A client of `address` on its own thread (the sources run through tsx, as the tests do). */
export function startBigClient(address: string): BigClient {
  const entry = new URL(import.meta.url).href;
  // tsx is found from here, not from the process's working directory (an eval worker resolves from there).
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  const w = new Worker(boot, { eval: true, workerData: { bigClient: address } });
  const waiting: Array<(a: BigAnswer) => void> = [];
  w.on('message', (a: BigAnswer) => waiting.shift()?.(a));
  return {
    call: (c) => new Promise((resolve) => { waiting.push(resolve); w.postMessage(c); }),
    close: async () => { await w.terminate(); },
  };
}

// ---- the thread ------------------------------------------------------------------
const { workerData } = await import('node:worker_threads');
const address = (workerData as { bigClient?: string } | undefined)?.bigClient;
if (parentPort && address) {
  const api = connect(address);
  const port = parentPort;
  port.on('message', (c: BigCall) => {
    const t = performance.now();
    const run = c.verb === 'allocate' ? api.links.allocate({ slice: c.slice, topology: bigTopology(c.links) }) : api.links[c.verb]({ slice: c.slice });
    run.then(
      (r) => port.postMessage({ ms: performance.now() - t, slivers: r.manifest?.slivers?.length ?? 0 } satisfies BigAnswer),
      (e: Error) => port.postMessage({ ms: performance.now() - t, slivers: 0, error: e.message } satisfies BigAnswer),
    );
  });
}
