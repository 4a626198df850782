// The controller process's gRPC server: Links (aggregate managers),
// Operator, Agent (the agents' streams), plus health checking and server
// reflection. Handlers authorize, convert, hand off to the Controller and
// convert back; errors become statuses in errors.ts only.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { chmodSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { Controller, type AgentSession, type ControllerEvent, type DesiredState, type PlanReply, type Scope } from '../controller/controller.js';
import { CallGate, checkRequestLimits, DEFAULT_LIMITS, RateLimiter, type Limits } from '../controller/limits.js';
import { InvalidSpecError, NotFoundError, PermissionDeniedError, throwIfCancelled, UnauthenticatedError, UnavailableError, VispError } from '../errors.js';
import { identityUri, parseIdentityUri, type Identity } from '../trust/identity.js';
import type { TlsFiles } from '../trust/tls.js';
import { openAuditLog } from './audit.js';
import { authorize, callerOf, MUTATING, POLICY, type Caller } from './authz.js';
import { CertificateFiles, peerIdentity, serverCredentials } from './tls.js';
import { takeOverStaleSocket } from './unix-socket.js';
import { decoded, isUndecodable, tolerant } from './decode.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import { openStore } from '../store/open.js';
import { electLeader } from '../store/etcd-election.js';
import { isEtcdStore } from '../store/etcd-store.js';
import { hostname } from 'node:os';
import type { Store } from '../store/types.js';
import {
  actionFromPb, allocationToPb, desiredStateToPb, endpointToPb, eventToPb, linkFromPb, manifestToPb, nodePlanToPb, nodeToPb, planQueryToPb, planResultFromPb, registerFromPb,
  endpointReportFromPb, reportFromPb, resourceToPb, sliceRequestFromPb, sliceToPb, sliverToPb, topologyFromPb, tunnelFilterFromPb, tunnelToPb, versionToPb,
} from './convert.js';
import { encodePaced, passEncoded, type Encoded } from './encode.js';
import { decodeItems, deferItems, deferredCount } from './bulk-decode.js';
import { Pacer } from '../ipam/pacer.js';
import type { Manifest, Topology } from '../controller/model.js';
import { toServiceError } from './errors.js';
import { callSignal, type CancellableCall } from './call-signal.js';
import { bgpNodeToPb, configFromPb, configToPb } from './egress-convert.js';
import { propertiesChangeFromPb } from './shape-convert.js';
import type { SetLinkPropertiesRequest__Output } from './gen/visp/v1/SetLinkPropertiesRequest.js';
import type { SetLinkPropertiesResponse } from './gen/visp/v1/SetLinkPropertiesResponse.js';
import type { CancelScheduledChangeRequest__Output } from './gen/visp/v1/CancelScheduledChangeRequest.js';
import type { CancelScheduledChangeResponse } from './gen/visp/v1/CancelScheduledChangeResponse.js';
import type { AgentHandlers } from './gen/visp/v1/Agent.js';
import type { AllocateRequest__Output } from './gen/visp/v1/AllocateRequest.js';
import type { LinksHandlers } from './gen/visp/v1/Links.js';
import type { OperatorHandlers } from './gen/visp/v1/Operator.js';
import type { PlanRequest__Output } from './gen/visp/v1/PlanRequest.js';
import { LAB_POOLS } from './lab-pools.js';
import { LOADER_OPTIONS, visp } from './proto.js';
import type { ConnectRequest__Output } from './gen/visp/v1/ConnectRequest.js';
import type { ConnectResponse } from './gen/visp/v1/ConnectResponse.js';
import { RspecReader } from '../rspec/reader-thread.js';
import { manifestRspec } from '../rspec/manifest.js';
import { startWebServer, type WebHandle, type WebOptions } from '../web/server.js';
import { currentRequestId, newRequestId, REQUEST_ID, withFields, withRequest, type LogFn } from '../log.js';
import { ControllerMetrics } from '../metrics/controller.js';
import { startMetricsServer, type MetricsHandle, type MetricsOptions } from './metrics-server.js';

export interface Listener {
  /** host:port or unix:/path */
  address: string;
  /**
   * unix: only. No TLS on this socket: every caller acts as this identity
   * (spiffe://…); the socket file's owner and mode are what guard it.
   */
  plaintextIdentity?: string;
}

export interface ControllerServerOptions {
  listen: Listener[];
  /** The controller's certificate (a controller identity), key, and the CA bundle clients' certificates must chain to. */
  tls?: TlsFiles;
  /** How often the TLS files are checked for replacement (default 5 s). */
  tlsRefreshMs?: number;
  storePath: string;
  ipam?: IpamConfigSpec;
  /** Lab mode: with no pools configured, hand out the documentation-range lab pools. Outside lab mode pools are required. */
  labPools?: boolean;
  limits?: Partial<Limits>;
  /** JSON-lines audit file; default: the log. */
  auditLog?: string;
  log?: LogFn;
  sweepIntervalMs?: number;
  /** The read-only web page (src/web/server.ts), over HTTPS with the TLS files above; absent: no page. */
  web?: WebOptions;
  /** With an etcd store: the leader's lease TTL, seconds (default 2). */
  leaderTtlS?: number;
  /** The Prometheus endpoint (metrics-server.ts), over HTTPS with the TLS files above; absent: none served (the figures are still kept). */
  metrics?: MetricsOptions;
}

export interface ControllerHandle {
  address: string; addresses: string[]; controller: Controller; close(): Promise<void>;
  /** The web page's host:port, when one is served. */
  web?: string;
  /** The metrics endpoint's host:port, when one is served. */
  metrics?: string;
  /** The controller's metrics (also when no endpoint serves them). */
  registry: ControllerMetrics;
}

type Call = { getPeer(): string; getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate } | null } & CancellableCall;

/** Listeners that make sense together; the plaintext identity parsed. */
function checkListeners(opts: ControllerServerOptions, certs: CertificateFiles | undefined): Identity | undefined {
  if (!opts.listen.length) throw new InvalidSpecError('listen: at least one address is required', { field: 'listen' });
  let plain: Identity | undefined;
  opts.listen.forEach((l, i) => {
    const f = `listen[${i}]`;
    if (l.plaintextIdentity === undefined) {
      if (!certs) throw new InvalidSpecError(`${f}: ${l.address} needs TLS (tls.ca, tls.cert, tls.key); plaintext is only for a unix socket with a plaintext identity`, { field: 'tls' });
      return;
    }
    if (!l.address.startsWith('unix:')) throw new InvalidSpecError(`${f}.plaintext_identity: plaintext is only allowed on a unix: socket, not ${l.address}`, { field: `${f}.plaintext_identity` });
    const id = parseIdentityUri(l.plaintextIdentity, `${f}.plaintext_identity`);
    if (certs && id.trustDomain !== certs.trustDomain) throw new InvalidSpecError(`${f}.plaintext_identity: trust domain ${id.trustDomain} is not the controller's (${certs.trustDomain})`, { field: `${f}.plaintext_identity` });
    if (plain && identityUri(plain) !== identityUri(id)) throw new InvalidSpecError(`${f}.plaintext_identity: only one plaintext identity per controller (${identityUri(plain)} is already used)`, { field: `${f}.plaintext_identity` });
    plain = id;
  });
  if (certs && certs.identity.role !== 'controller') {
    throw new InvalidSpecError(`tls.cert: ${opts.tls!.cert} is a ${certs.identity.role} identity; the controller needs a controller certificate (visp certs issue --role controller)`, { field: 'tls.cert' });
  }
  return plain;
}

export async function startController(opts: ControllerServerOptions): Promise<ControllerHandle> {
  const log: LogFn = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const certs = opts.tls ? new CertificateFiles(opts.tls, { log: withFields(log, { component: 'tls' }), ...(opts.tlsRefreshMs ? { refreshMs: opts.tlsRefreshMs } : {}) }) : undefined;
  const plaintext = checkListeners(opts, certs);
  if (opts.web && !certs) throw new InvalidSpecError(`web.listen: the page needs TLS (tls.ca, tls.cert, tls.key): a browser authenticates with its client certificate`, { field: 'web.listen' });
  if (opts.metrics && !certs) throw new InvalidSpecError(`metrics.listen: the metrics endpoint needs TLS (tls.ca, tls.cert, tls.key): a scraper authenticates with its client certificate`, { field: 'metrics.listen' });
  for (const l of opts.listen) if ((await takeOverStaleSocket(l.address)) === 'removed') log(`listen: removed the stale socket ${l.address} (nothing answered on it)`);
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const store: Store = await openStore(opts.storePath, { threaded: true, ...(opts.tls ? { tls: opts.tls } : {}) });
  // Several controllers share an etcd store: one of them, elected, does the duties that must not run twice.
  const identity = `${certs?.identity.name ?? 'controller'}@${hostname()}:${process.pid}`;
  const leadership = isEtcdStore(store) ? electLeader(store, 'duties', { identity, log, ...(opts.leaderTtlS ? { ttlS: opts.leaderTtlS } : {}) }) : undefined;
  const closeStore = async (): Promise<void> => { await leadership?.close(); await store.close(); };
  const controller = new Controller({
    store, limits, ...(opts.ipam ? { ipam: opts.ipam } : {}), ...(opts.labPools ? { defaultIpam: LAB_POOLS } : {}),
    ...(opts.sweepIntervalMs ? { sweepIntervalMs: opts.sweepIntervalMs } : {}),
    ...(leadership ? { leadership } : {}),
    ...(isEtcdStore(store) ? { watch: store, identity } : {}),
  });
  try {
    await controller.start();
  } catch (e) {
    await closeStore();
    throw e;
  }
  controller.on('event', (e) => log(`event ${e.kind}${e.slice ? ` ${e.slice}` : ''}${e.link ? `/${e.link}` : ''}${e.node ? ` @${e.node}` : ''}: ${e.message}`, {
    component: 'events', event: e.kind, ...(e.slice ? { slice: e.slice } : {}), ...(e.link ? { link: e.link } : {}), ...(e.node ? { node: e.node } : {}),
  }));
  const metrics = new ControllerMetrics(controller.version, Object.keys(POLICY).filter((m) => !m.startsWith('Web.') && !m.startsWith('Metrics.')));
  metrics.attach(controller.metricsSources());
  const audit = openAuditLog(opts.auditLog, withFields(log, { component: 'audit' }));
  const rspecs = new RspecReader();
  const rate = new RateLimiter(limits.ratePerAm);
  const gate = new CallGate(limits.callsPerAm);

  /**
   * One gRPC server per transport: TLS listeners and the plaintext unix
   * socket never share a server, so a call always knows how it came in. (A
   * TLS client whose certificate failed verification arrives with an empty
   * auth context, exactly like a plaintext one: on a shared server it could
   * have passed for the plaintext socket's identity.)
   */
  const serve = (plain: boolean): grpc.Server => {
    /** The caller's verified identity: its certificate, or the plaintext socket's identity. */
    const authenticate = (call: Call): Caller => {
      if (plain) return callerOf(plaintext!, call.getPeer());
      const ctx = call.getAuthContext();
      // grpc-js shows a certificate only when it chained to our CA bundle and is
      // within its validity: otherwise the context is empty, and which of the
      // reasons it was is not told.
      if (ctx?.transportSecurityType !== 'ssl' || !certs) {
        throw new UnauthenticatedError('no valid client certificate: none was presented, or it is expired, not yet valid, or not issued by a CA this controller trusts (visp certs show FILE)');
      }
      return callerOf(peerIdentity({ getAuthContext: () => ctx }, certs), call.getPeer());
    };

    /** Authenticate, authorize, rate-limit an AM, run; audit what changes state or is refused. */
    const guard = (method: string, call: Call, target?: { slice?: string; node?: string }): { caller: Caller; scope: Scope } => {
      let caller: Caller | undefined;
      try {
        caller = authenticate(call);
        const scope = authorize(caller, method);
        if (caller.identity.role === 'am') rate.take(caller.uri);
        return { caller, scope };
      } catch (e) {
        record(method, caller, call.getPeer(), target, e);
        throw e;
      }
    };
    const record = (verb: string, caller: Caller | undefined, peer: string, target: { slice?: string; node?: string } | undefined, e?: unknown): void => {
      const code = codeOf(e);
      // A refused stream is counted here; an answered unary call where it ends (with its duration).
      if (e !== undefined && (verb === 'Operator.WatchEvents' || verb === 'Agent.Connect')) metrics.call(verb, code);
      if (e === undefined && !MUTATING.has(verb)) return;
      audit.write({
        identity: caller?.uri ?? '', role: caller?.identity.role ?? '', peer, verb, ...target, code,
        ...(e !== undefined ? { message: e instanceof VispError ? e.message : 'internal error' } : {}),
      });
    };

    /**
     * A unary handler. Req and Res come from the service's generated handler
     * type (LinksHandlers…), never from `fn`; a reply is Res, or Res already
     * encoded (encode.ts).
     */
    const unary = <Req, Res>(
      method: string, target: (r: NoInfer<Req>) => { slice?: string; node?: string } | undefined,
      fn: (r: NoInfer<Req>, scope: Scope, caller: Caller, signal: AbortSignal) => Promise<NoInfer<Res> | Encoded> | NoInfer<Res> | Encoded,
    ): grpc.handleUnaryCall<Req, Res> =>
      (call, cb) => {
        // The call's request id: the client's (metadata visp-request-id) when it gave a plain one, else a new one.
        // Every record written for the call, and the desired state it pushes to agents, carry it; the reply's trailer says it.
        const given = call.metadata.get('visp-request-id')[0];
        const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : newRequestId();
        const t0 = performance.now();
        const ended = (e?: unknown): void => {
          const code = codeOf(e);
          const seconds = (performance.now() - t0) / 1000;
          metrics.call(method, code, seconds);
          const slice = isUndecodable(call.request) ? undefined : target(call.request)?.slice;
          // Calls that change something are worth a record each; reads only at debug (an AM polls Status).
          log(`${method} ${code} ${Math.round(seconds * 1000)} ms`, {
            component: 'rpc', method, code, durationMs: Math.round(seconds * 1e4) / 10, ...(slice ? { slice } : {}),
            level: code === 'INTERNAL' ? 'error' : MUTATING.has(method) ? 'info' : 'debug',
          });
        };
        void withRequest(requestId, async () => {
          let g: { caller: Caller; scope: Scope } | undefined;
          const { signal, done } = callSignal(call, method);
          try {
            g = guard(method, call, isUndecodable(call.request) ? undefined : target(call.request));
            // A call whose caller went away while it waited for its turn is not run.
            const run = (): Promise<Res | Encoded> => { throwIfCancelled(signal); return Promise.resolve(fn(decoded(call.request), g!.scope, g!.caller, signal)); };
            // An AM's calls run a few at a time (limits.calls_per_am): one AM's flood cannot take every turn of the loop.
            const res = g.caller.identity.role === 'am' ? await gate.run(g.caller.uri, run) : await run();
            record(method, g.caller, call.getPeer(), target(call.request));
            ended();
            // (The one cast: grpc-js types a reply as Res, and passEncoded's serializer passes Encoded bytes through.)
            const trailer = new grpc.Metadata();
            trailer.set('visp-request-id', requestId);
            cb(null, res as Res, trailer);
          } catch (e) {
            if (g) record(method, g.caller, call.getPeer(), target(call.request), e);
            ended(e);
            const se = toServiceError(e, log);
            // The error's own metadata (visp-field…) keeps what it says; the request id joins it.
            const md = se.metadata ?? new grpc.Metadata();
            md.set('visp-request-id', requestId);
            cb({ ...se, metadata: md });
          } finally {
            done();
          }
        });
      };
    const none = (): undefined => undefined;
    const bySlice = (r: { slice: string }): { slice: string } => ({ slice: r.slice });

    const { def, pkg } = visp();
    /**
     * A request's topology: the size limits checked on what arrived (its
     * links not decoded yet), then the links decoded and converted in paced
     * stretches (bulk-decode.ts).
     */
    const topologyOf = async (r: AllocateRequest__Output | PlanRequest__Output, signal?: AbortSignal): Promise<Topology | undefined> => {
      const raw = r.topology;
      if (raw) checkRequestLimits({ nodes: raw.nodes, links: new Array<object>(deferredCount(r) ?? raw.links?.length ?? 0).fill({}) }, limits);
      const t = topologyFromPb(r.topology);
      if (t && deferredCount(r) !== undefined) t.links = await decodeItems(def, 'visp.v1.TopologyLink', r, 'topology.links', (x, i) => linkFromPb(x, `topology.links[${i}]`), new Pacer(signal));
      if (t) checkRequestLimits(t, limits); // members per LAN, now that the links are read
      return t;
    };
    /** A reply carrying a manifest: its slivers converted and encoded in paced stretches (encode.ts). */
    const manifestReply = (type: string, m: Manifest, extra: Record<string, unknown> = {}): Promise<Encoded> => {
      const head = manifestToPb({ ...m, slivers: [] });
      const alloc = allocationToPb(m.allocation);
      return encodePaced(def, `visp.v1.${type}`, { ...extra, manifest: head }, {
        path: ['manifest', 'slivers'], items: m.slivers, toPb: (x, i) => sliverToPb(x, alloc, `slivers[${i}]`),
      });
    };
    /** Links.SetLinkProperties (an AM, its own slices) and Operator.SetLinkProperties (any slice): one handler. */
    const setLinkProperties = (method: string): grpc.handleUnaryCall<SetLinkPropertiesRequest__Output, SetLinkPropertiesResponse> =>
      unary<SetLinkPropertiesRequest__Output, SetLinkPropertiesResponse>(method, bySlice, async (r, scope, _caller, signal) => {
      const { slice, change } = propertiesChangeFromPb(r);
      const m = await controller.setLinkProperties(slice, change, scope, { signal, ...(r.at ? { at: r.at } : {}) });
      return manifestReply('SetLinkPropertiesResponse', m, { scheduledId: m.scheduledId ?? '' });
      });
    /** Links.CancelScheduledChange (an AM, its own slices) and Operator.CancelScheduledChange (any slice). */
    const cancelScheduled = (method: string): grpc.handleUnaryCall<CancelScheduledChangeRequest__Output, CancelScheduledChangeResponse> =>
      unary<CancelScheduledChangeRequest__Output, CancelScheduledChangeResponse>(method, bySlice, async (r, scope, _caller, signal) => {
        if (!r.id) throw new InvalidSpecError('id: is required (the scheduled change\'s id, from the manifest\'s scheduled)', { field: 'id' });
        return manifestReply('CancelScheduledChangeResponse', await controller.cancelScheduled(r.slice, r.id, scope, { signal }));
      });
    const server = new grpc.Server({
      // The request size limit is ours (checked before decoding, named, audited: decode.ts); this is the transport's hard cap.
      'grpc.max_receive_message_length': Math.max(limits.requestBytes, 64 << 20),
      // One connection's burst of calls is queued, not run all at once, so it cannot crowd out other callers.
      'grpc.max_concurrent_streams': 32,
    });

    const links: LinksHandlers = {
      GetVersion: unary('Links.GetVersion', none, () => versionToPb(controller.getVersion())),
      ListResources: unary('Links.ListResources', none, () => ({ nodes: controller.listResources().map(resourceToPb) })),
      Allocate: unary('Links.Allocate', bySlice, async (r, scope, _caller, signal) => {
        if (!r.requestRspec) return manifestReply('AllocateResponse', await controller.allocate(sliceRequestFromPb(r, await topologyOf(r, signal)), scope, { signal }));
        // A GENI request RSpec: read on its own thread (reader-thread.ts); every refusal after that names the element it came from.
        // (An absent topology decodes as empty: nodes or links are what "given" means.)
        if (r.topology?.nodes?.length || (deferredCount(r) ?? r.topology?.links?.length ?? 0) > 0) throw new InvalidSpecError('request_rspec: give a topology or a request RSpec, not both', { field: 'request_rspec' });
        const rs = await rspecs.read(r.requestRspec, 'request_rspec', signal);
        throwIfCancelled(signal);
        try {
          checkRequestLimits(rs.topology, limits);
          const m = await controller.allocate(sliceRequestFromPb(r, rs.topology), scope, { signal });
          return manifestReply('AllocateResponse', m, { warnings: rs.warnings });
        } catch (e) {
          throw rs.place(e);
        }
      }),
      Provision: unary('Links.Provision', bySlice, async (r, scope, _caller, signal) => manifestReply('ProvisionResponse', await controller.provision(r.slice, scope, { signal }))),
      Status: unary('Links.Status', bySlice, async (r, scope) => manifestReply('StatusResponse', await controller.status(r.slice, scope))),
      Describe: unary('Links.Describe', bySlice, async (r, scope) => {
        if (!r.manifestRspec) return manifestReply('DescribeResponse', await controller.describe(r.slice, scope));
        const { manifest, request } = await controller.describeRequest(r.slice, scope);
        return manifestReply('DescribeResponse', manifest, { manifestRspec: await manifestRspec(manifest, request, new Pacer()) });
      }),
      Renew: unary('Links.Renew', bySlice, async (r, scope, _caller, signal) => manifestReply('RenewResponse', await controller.renew(r.slice, r.endTime, scope, { signal }))),
      PerformOperationalAction: unary('Links.PerformOperationalAction', bySlice, async (r, scope, _caller, signal) => {
        const m = await controller.performAction(r.slice, r.slivers, actionFromPb(r.action), scope, { signal, ...(r.at ? { at: r.at } : {}) });
        return manifestReply('PerformOperationalActionResponse', m, { scheduledId: m.scheduledId ?? '' });
      }),
      Delete: unary('Links.Delete', bySlice, async (r, scope, _caller, signal) => manifestReply('DeleteResponse', await controller.delete(r.slice, scope, { signal }))),
      Shutdown: unary('Links.Shutdown', bySlice, async (r, scope, _caller, signal) => manifestReply('ShutdownResponse', await controller.shutdown(r.slice, scope, { signal }))),
      SetLinkProperties: setLinkProperties('Links.SetLinkProperties'),
      CancelScheduledChange: cancelScheduled('Links.CancelScheduledChange'),
    };
    server.addService(passEncoded(tolerant(pkg.visp.v1.Links.service, limits.requestBytes, { Allocate: deferItems(def, 'visp.v1.AllocateRequest', ['topology', 'links']) })), links);

    const operator: OperatorHandlers = {
      ListNodes: unary('Operator.ListNodes', none, () => ({ nodes: controller.listNodes().map(nodeToPb) })),
      ListSlices: unary('Operator.ListSlices', none, async () => ({ slices: (await controller.listSlices()).map(sliceToPb) })),
      ListTunnels: unary('Operator.ListTunnels', none, async (r) => {
        const tunnels = await controller.listTunnels(tunnelFilterFromPb(r));
        return encodePaced(def, 'visp.v1.ListTunnelsResponse', {}, { path: ['tunnels'], items: tunnels, toPb: tunnelToPb });
      }),
      GetTunnel: unary('Operator.GetTunnel', none, async (r) => {
        if (!r.sliver) throw new InvalidSpecError('sliver: is required ("<slice>/<link>")', { field: 'sliver' });
        const tunnels = await controller.listTunnels({ sliver: r.sliver, ...(r.node ? { node: r.node } : {}) });
        if (!tunnels.length) throw new NotFoundError(`sliver: no tunnel for "${r.sliver}"${r.node ? ` on node ${r.node}` : ''}`, { field: 'sliver' });
        return { tunnels: tunnels.map(tunnelToPb) };
      }),
      WatchEvents: (call) => {
        try {
          guard('Operator.WatchEvents', call, isUndecodable(call.request) ? undefined : { slice: call.request.slice, node: call.request.node });
          decoded(call.request);
        } catch (e) {
          call.emit('error', toServiceError(e, log));
          return;
        }
        const f = call.request;
        const on = (e: ControllerEvent): void => {
          if (f.slice && e.slice !== f.slice) return;
          if (f.node && e.node !== f.node) return;
          call.write(eventToPb(e));
        };
        metrics.call('Operator.WatchEvents', 'OK');
        controller.on('event', on);
        call.on('cancelled', () => controller.off('event', on));
        call.on('close', () => controller.off('event', on));
      },
      SetEgressNode: unary('Operator.SetEgressNode', (r) => ({ node: r.config?.node ?? '' }), async (r) => {
        if (r.remove) {
          await controller.removeEgressNode(r.config?.node ?? '');
          return { config: r.config ?? {} };
        }
        return { config: configToPb(await controller.setEgressNode(configFromPb(r.config))) };
      }),
      ListBgp: unary('Operator.ListBgp', none, (r) => ({ nodes: controller.listBgp(r.node || undefined).map(bgpNodeToPb) })),
      Plan: unary('Operator.Plan', bySlice, async (r, _scope, _caller, signal) => {
        const p = await controller.plan(sliceRequestFromPb(r, await topologyOf(r, signal)), { signal });
        return manifestReply('PlanResponse', p.manifest, { nodes: p.nodes.map(nodePlanToPb) });
      }),
      SetLinkProperties: setLinkProperties('Operator.SetLinkProperties'),
      CancelScheduledChange: cancelScheduled('Operator.CancelScheduledChange'),
    };
    server.addService(passEncoded(tolerant(pkg.visp.v1.Operator.service, limits.requestBytes, { Plan: deferItems(def, 'visp.v1.PlanRequest', ['topology', 'links']) })), operator);

    const agent: AgentHandlers = {
      Connect: (call) => {
        let caller: Caller;
        try {
          caller = guard('Agent.Connect', call).caller;
        } catch (e) {
          call.emit('error', toServiceError(e, log));
          return;
        }
        metrics.call('Agent.Connect', 'OK');
        agentStream(controller, call, caller, log, (node, e) => record('Agent.Connect', caller, call.getPeer(), { node }, e));
      },
    };
    server.addService(passEncoded(tolerant(pkg.visp.v1.Agent.service, Infinity, { Connect: deferItems(def, 'visp.v1.ConnectRequest', ['report', 'endpoints']) })) /* a big node's report is large; agents are our own */, agent);

    const health = new HealthImplementation({ '': 'SERVING', 'visp.v1.Links': 'SERVING', 'visp.v1.Operator': 'SERVING', 'visp.v1.Agent': 'SERVING' });
    health.addToServer(server);
    // Reflection lists every service this server answers, health included.
    const healthDef = protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS);
    new ReflectionService({ ...def, ...healthDef }).addToServer(server);

    return server;
  };

  const servers: { tls?: grpc.Server; plain?: grpc.Server } = {};
  const bound: string[] = [];
  let web: WebHandle | undefined;
  let metricsServer: MetricsHandle | undefined;
  try {
    for (const l of opts.listen) {
      const plain = l.plaintextIdentity !== undefined;
      const creds = plain ? grpc.ServerCredentials.createInsecure() : serverCredentials(certs!);
      const server = plain ? (servers.plain ??= serve(true)) : (servers.tls ??= serve(false));
      bound.push(await new Promise<string>((resolve, reject) => {
        server.bindAsync(l.address, creds, (err, port) => {
          if (err) reject(new InvalidSpecError(`listen: cannot listen on ${l.address}: ${err.message}`, { field: 'listen', cause: err }));
          else resolve(l.address.startsWith('unix:') ? l.address : l.address.replace(/:0$/, `:${port}`));
        });
      }));
      if (l.address.startsWith('unix:')) chmodSync(l.address.slice(5), l.plaintextIdentity !== undefined ? 0o600 : 0o666);
    }
    if (opts.web) web = await startWebServer(opts.web, { controller, certs: certs!, log: withFields(log, { component: 'web' }), audit });
    if (opts.metrics) metricsServer = await startMetricsServer(opts.metrics, { scrape: () => metrics.scrape(), certs: certs!, log, audit });
  } catch (e) {
    await web?.close();
    for (const sv of Object.values(servers)) sv.forceShutdown();
    controller.stop();
    await closeStore();
    throw e;
  }
  log(`controller listening on ${bound.join(', ')}${certs ? ` (mTLS, trust domain ${certs.trustDomain})` : ''}${plaintext ? ` (plaintext unix socket as ${identityUri(plaintext)})` : ''}`);
  return {
    address: bound[0]!,
    addresses: bound,
    controller,
    ...(web ? { web: web.address } : {}),
    ...(metricsServer ? { metrics: metricsServer.address } : {}),
    registry: metrics,
    close: async () => {
      await web?.close();
      await metricsServer?.close();
      controller.stop();
      // Agents' and watchers' streams never end by themselves: give unary calls
      // a moment to finish, then cut the rest.
      await Promise.all(Object.values(servers).map((sv) => new Promise<void>((r) => {
        const t = setTimeout(() => { sv.forceShutdown(); r(); }, CLOSE_GRACE_MS);
        sv.tryShutdown(() => { clearTimeout(t); r(); });
      })));
      certs?.close();
      await rspecs.close();
      await audit.close();
      await closeStore();
    },
  };
}

const CLOSE_GRACE_MS = 2000;

/** A call's outcome as its gRPC status code's name (OK, NOT_FOUND, …): the audit's and the metrics' word for it. */
function codeOf(e: unknown): string {
  return e === undefined ? 'OK' : grpc.status[toServiceError(e, () => undefined).code ?? grpc.status.INTERNAL] ?? 'INTERNAL';
}

/** One agent's stream: Register first, then reports and plan answers; desired state flows down. */
function agentStream(
  controller: Controller, call: grpc.ServerDuplexStream<ConnectRequest__Output, ConnectResponse>, caller: Caller, log: LogFn,
  audit: (node: string, e?: unknown) => void,
): void {
  let node: string | undefined;
  let nextPlan = 1;
  const plans = new Map<number, (r: PlanReply) => void>();
  const session: AgentSession = {
    peer: call.getPeer(),
    close(reason: string) {
      call.emit('error', { code: grpc.status.ABORTED, details: reason });
    },
    send(state: DesiredState) {
      // Pushed while a call runs (Provision, Delete…): that call's request id goes with it.
      call.write({ desired: desiredStateToPb(state, 'desired', currentRequestId()) });
    },
    async sendPaced(state, pace) {
      // The endpoints converted and encoded in stretches; the stream's serializer passes the bytes through.
      const head = desiredStateToPb({ ...state, endpoints: [] }, 'desired', currentRequestId());
      const bytes = await encodePaced(visp().def, 'visp.v1.ConnectResponse', { desired: head }, {
        path: ['desired', 'endpoints'], items: state.endpoints, toPb: (e, i) => endpointToPb(e, `desired.endpoints[${i}]`),
      }, pace);
      call.write(bytes as unknown as ConnectResponse);
    },
    plan(endpoints) {
      const id = nextPlan++;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { plans.delete(id); reject(new UnavailableError(`node ${node}: its agent did not answer the plan within 10 s`)); }, 10_000);
        plans.set(id, (r) => { clearTimeout(t); resolve(r); });
        call.write({ plan: planQueryToPb(id, endpoints) });
      });
    },
  };
  let turn: Promise<void> = Promise.resolve();
  call.on('data', (m: ConnectRequest__Output) => {
    // One message at a time, in order (a report decoded in stretches is not overtaken by the next one).
    turn = turn.then(async () => {
      try {
        decoded(m);
        if (m.register) {
          if (node !== undefined) throw new InvalidSpecError('register: this stream has registered already', { field: 'register' });
          // The certificate names the node; an agent may only be that node.
          const claimed = m.register.node || caller.identity.name;
          if (claimed !== caller.identity.name) {
            const e = new PermissionDeniedError(`register.node: this certificate is for node ${caller.identity.name}; it may not register as ${JSON.stringify(claimed)}`, { field: 'node' });
            audit(claimed, e);
            throw e;
          }
          try {
            await controller.agentConnected({ ...registerFromPb(m.register), node: claimed }, session);
          } catch (e) {
            audit(claimed, e);
            throw e;
          }
          node = claimed;
          audit(claimed);
        } else if (m.report && node) {
          // A big node's endpoints were left undecoded by the deserializer: decoded and converted in paced stretches.
          const endpoints = await decodeItems(visp().def, 'visp.v1.EndpointReport', m, 'report.endpoints', (x, i) => endpointReportFromPb(x, `report.endpoints[${i}]`), new Pacer());
          await controller.agentReport(node, { ...reportFromPb(m.report), endpoints });
        } else if (m.planResult) {
          const { id, reply } = planResultFromPb(m.planResult);
          plans.get(id)?.(reply);
          plans.delete(id);
        }
      } catch (e) {
        const se = toServiceError(e, log);
        call.emit('error', se);
        call.end();
      }
    });
  });
  const gone = (): void => { if (node) controller.agentDisconnected(node, session); };
  call.on('end', () => { gone(); call.end(); });
  call.on('cancelled', gone);
  call.on('error', gone);
}
