// The agent process: an AgentCore wired to the controller's Agent stream.
// Dials, registers, applies each desired state, reports; on any break it
// reconnects with exponential backoff (0.2 s doubling to 5 s, with jitter)
// and registers again — the kernel state it built stays as it is meanwhile.
// Given several controllers (comma-separated; they share one etcd store), a
// broken stream moves it to the next at once, and the backoff grows only
// once every one of them has been tried: a dead controller costs a node a
// second or so of no control, never its links (the kernel keeps them, and
// the next controller sends the same desired state, which changes nothing).
import * as grpc from '@grpc/grpc-js';
import { AgentCore, type Desired, type Report } from '../agent/agent.js';
import type { PlanReply } from '../controller/controller.js';
import { desiredStateFromPb, planQueryFromPb, planResultToPb, registerToPb, reportToPb } from './convert.js';
import { visp } from './proto.js';
import type { UnderlayCapacity } from '../agent/underlay-capacity.js';
import type { HealthOptions } from '../health/prober.js';
import { CertificateFiles, channelCredentials, TLS_CHANNEL_OPTIONS } from './tls.js';
import { InvalidSpecError } from '../errors.js';
import type { TlsFiles } from '../trust/tls.js';
import type { ConnectRequest } from './gen/visp/v1/ConnectRequest.js';
import type { ConnectResponse__Output } from './gen/visp/v1/ConnectResponse.js';
import { withFields, type LogFn } from '../log.js';
import { AgentMetrics } from '../metrics/agent.js';
import { startMetricsServer, type MetricsHandle, type MetricsOptions } from './metrics-server.js';

export const AGENT_VERSION = 'visp 0.1.0';

export interface AgentOptions {
  /** The controller's address, or several, comma-separated (failover in order). */
  controller: string;
  /** This node's name; default: the name in the TLS certificate. */
  node?: string;
  /** Certificate (a node identity), key and the CA bundle; absent: plaintext (a controller's plaintext unix socket only). */
  tls?: TlsFiles;
  tlsRefreshMs?: number;
  underlay?: string[];
  /** What the underlay carries, for guaranteed links (docs/links.md): bit/s, 'none', or 'auto' (default: the devices' speed). */
  underlayCapacity?: UnderlayCapacity;
  /** Run against this namespace instead of the process's own (tests, one-process labs). */
  netns?: string;
  reconcileIntervalMs?: number;
  log?: LogFn;
  /** The Prometheus endpoint (metrics-server.ts), over HTTPS with the TLS files above; absent: none served. */
  metrics?: MetricsOptions;
  /** Where the BGP speaker's socket and log live (default /run/visp). */
  runDir?: string;
  /** Link health probing: its timing (docs/config.md, `health`), or false for none. */
  health?: Partial<HealthOptions> | false;
}

export interface AgentHandle {
  node: string;
  /** The metrics endpoint's host:port, when one is served. */
  metrics?: string;
  registry: AgentMetrics;
  close(): Promise<void>;
}

export async function startAgent(opts: AgentOptions): Promise<AgentHandle> {
  const log: LogFn = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const link = withFields(log, { component: 'controller-link' });
  const certs = opts.tls ? new CertificateFiles(opts.tls, { log: withFields(log, { component: 'tls' }), ...(opts.tlsRefreshMs ? { refreshMs: opts.tlsRefreshMs } : {}) }) : undefined;
  const nodeName = opts.node ?? certs?.identity.name;
  if (!nodeName) throw new InvalidSpecError('node: is required (or a TLS certificate that names the node)', { field: 'node' });
  if (certs && certs.identity.role !== 'node') {
    throw new InvalidSpecError(`tls.cert: ${opts.tls!.cert} is a ${certs.identity.role} identity; an agent needs a node certificate (visp certs issue --role node)`, { field: 'tls.cert' });
  }
  if (opts.metrics && !certs) throw new InvalidSpecError('metrics.listen: the metrics endpoint needs TLS (tls.ca, tls.cert, tls.key): a scraper authenticates with its client certificate', { field: 'metrics.listen' });
  const metrics = new AgentMetrics(nodeName, AGENT_VERSION);
  const core = new AgentCore({ name: nodeName, ...(opts.netns ? { netns: opts.netns } : {}), ...(opts.runDir ? { runDir: opts.runDir } : {}), ...(opts.reconcileIntervalMs ? { reconcileIntervalMs: opts.reconcileIntervalMs } : {}), ...(opts.health !== undefined ? { health: opts.health } : {}), log, metrics });
  await core.start();
  let metricsServer: MetricsHandle | undefined;
  try {
    if (opts.metrics) metricsServer = await startMetricsServer(opts.metrics, { scrape: () => metrics.scrape(), certs: certs!, log });
  } catch (e) {
    await core.close();
    certs?.close();
    throw e;
  }
  const addresses = opts.controller.split(',');
  const id = await core.identity(opts.underlay, addresses[0]!, opts.underlayCapacity);
  const { pkg } = visp();
  let current = 0;
  let failedInARow = 0;
  const newClient = (): InstanceType<typeof pkg.visp.v1.Agent> =>
    new pkg.visp.v1.Agent(addresses[current]!, certs ? channelCredentials(certs) : grpc.credentials.createInsecure(), certs ? TLS_CHANNEL_OPTIONS : {});
  let client = newClient();
  let stream: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse__Output> | undefined;
  let closed = false;
  let backoff = 200;
  let timer: NodeJS.Timeout | undefined;

  const send = (m: ConnectRequest): void => { try { stream?.write(m); } catch { /* the stream broke; reconnect follows */ } };
  // The reserved namespaces the controller at the other end of this stream has (from Register, or a
  // report since): a report carries the list only when it differs. Every namespace on the host
  // without a visp mark is in it (a lab's node namespaces: ~N names), and every pass reports.
  let told: readonly string[] | undefined;
  core.on('report', (r: Report) => {
    const changed = !sameList(told, r.reservedNamespaces);
    if (changed) told = r.reservedNamespaces;
    send({ report: reportToPb(changed ? r : { ...r, reservedNamespaces: undefined }) });
  });

  const dial = (): void => {
    if (closed) return;
    const s = client.connect();
    stream = s;
    told = undefined;   // a new stream (maybe a new controller): the next report says it whole, unless Register did
    let registered = false;
    s.on('data', (m: ConnectResponse__Output) => {
      if (!registered) { registered = true; backoff = 200; failedInARow = 0; link(`connected to ${addresses[current]} as ${nodeName}`); }
      if (m.desired) {
        let d: Desired;
        try {
          d = desiredStateFromPb(m.desired);
        } catch (e) {
          // (e.g. a newer controller's kind this agent does not know.) Thrown here it would end the process; the last state stays built.
          link(`controller sent a desired state this agent cannot read; keeping the last one: ${(e as Error).message}`, { level: 'error' });
          return;
        }
        link(`desired state ${d.generation}: ${d.endpoints.length} endpoints, ${d.teardowns.length} teardowns`, { ...(d.requestId ? { requestId: d.requestId } : {}) });
        core.setDesired(d);
      } else if (m.plan) {
        const q = m.plan;
        const failed = (e: Error): PlanReply => ({ endpoints: q.endpoints.map((x) => ({ slice: x.slice, link: x.link, steps: [], error: e.message })) });
        // A query this agent cannot read is answered like one it could not plan.
        void (async () => ({ endpoints: await core.plan(planQueryFromPb(q).endpoints) }))()
          .then((reply) => reply, failed)
          .then((reply) => send({ planResult: planResultToPb(q.id, reply) }));
      }
    });
    const again = (why: string): void => {
      if (stream !== s || closed) return;
      stream = undefined;
      const from = addresses[current]!;
      if (addresses.length > 1) {
        // The next controller, at once while some are untried; the backoff after a whole round.
        current = (current + 1) % addresses.length;
        client.close();
        client = newClient();
        failedInARow++;
        if (failedInARow < addresses.length) {
          link(`controller stream ${why} (${from}); trying ${addresses[current]}`, { level: 'warn' });
          timer = setTimeout(dial, 50);
          return;
        }
        failedInARow = 0;
      }
      const wait = Math.round(backoff * (0.8 + Math.random() * 0.4));
      link(`controller stream ${why}; reconnecting in ${wait} ms`, { level: 'warn' });
      backoff = Math.min(backoff * 2, 5000);
      timer = setTimeout(dial, wait);
    };
    s.on('error', (e: grpc.ServiceError) => {
      // A refusal (wrong node for this certificate, another live agent for
      // this node, a replacement) will not change by itself: say so plainly,
      // and retry slowly in case the operator fixes it.
      if ([grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED, grpc.status.ALREADY_EXISTS, grpc.status.ABORTED, grpc.status.FAILED_PRECONDITION].includes(e.code)) {
        link(`controller refused this agent: ${grpc.status[e.code]}: ${e.details}`, { level: 'error' });
        backoff = 5000;
        // A refusal may be about the TLS session itself (a certificate or CA
        // replaced since it was set up): the next try gets a new connection.
        if (e.code === grpc.status.UNAUTHENTICATED || e.code === grpc.status.PERMISSION_DENIED) { client.close(); client = newClient(); }
      }
      again(`failed (${e.details || e.message})`);
    });
    s.on('end', () => again('ended'));
    // Register first, with the namespaces no slice may use here (the controller refuses them at Allocate).
    void core.reservedNamespaces().catch((e: Error) => { log(`reserved namespaces: ${e.message}`); return [] as string[]; }).then((names) => {
      if (stream !== s) return;
      s.write({ register: registerToPb(nodeName, id, names, AGENT_VERSION) });
      told = names;
    });
  };
  dial();

  return {
    node: nodeName,
    ...(metricsServer ? { metrics: metricsServer.address } : {}),
    registry: metrics,
    close: async () => {
      closed = true;
      await metricsServer?.close();
      certs?.close();
      if (timer) clearTimeout(timer);
      stream?.cancel();
      client.close();
      await core.close();
    },
  };
}

/** Whether two reserved-namespace lists (sorted, as the node kernel gives them) are the same; the same array is (it is kept while nothing changed). */
function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a === b || (a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]));
}
