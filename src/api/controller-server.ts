// The controller process's gRPC server: Links (aggregate managers),
// Operator, Agent (the agents' streams), plus health checking and server
// reflection. Handlers authorize, convert, hand off to the Controller and
// convert back; errors become statuses in errors.ts only.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Controller, type AgentSession, type ControllerEvent, type DesiredState, type PlanReply } from '../controller/controller.js';
import { NotFoundError } from '../errors.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/types.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { TunnelKind } from '../tunnel/types.js';
import { actionFromPb, capabilityFromPb, capabilityToPb, encapToPb, endpointToPb, iso, manifestToPb, stateFromPb, stateToPb, topologyFromPb } from './convert.js';
import { toServiceError } from './errors.js';
import { configFromPb, configToPb, desiredToPb, statusFromPb, statusToPb } from './egress-convert.js';
import type { SetEgressNodeRequest__Output } from './gen/visp/v1/SetEgressNodeRequest.js';
import { LAB_POOLS } from './lab-pools.js';
import { visp } from './proto.js';
import type { ConnectRequest__Output } from './gen/visp/v1/ConnectRequest.js';
import type { ConnectResponse } from './gen/visp/v1/ConnectResponse.js';

export interface ControllerServerOptions {
  listen: string;
  storePath: string;
  ipam?: IpamConfigSpec;
  log?: (line: string) => void;
  sweepIntervalMs?: number;
}

export interface ControllerHandle { address: string; controller: Controller; close(): Promise<void> }

type Call<Req> = { request: Req; getPeer(): string };
type Cb<Res> = (err: Partial<grpc.ServiceError> | null, res?: Res) => void;

export async function startController(opts: ControllerServerOptions): Promise<ControllerHandle> {
  const log = opts.log ?? ((l: string) => console.error(l));
  if (opts.storePath !== ':memory:') mkdirSync(dirname(opts.storePath), { recursive: true });
  const store: Store = opts.storePath === ':memory:' ? createMemoryStore() : await openSqliteStore(opts.storePath);
  const controller = new Controller({
    store, ...(opts.ipam ? { ipam: opts.ipam } : {}), defaultIpam: LAB_POOLS,
    ...(opts.sweepIntervalMs ? { sweepIntervalMs: opts.sweepIntervalMs } : {}),
  });
  await controller.start();
  controller.on('event', (e) => log(`event ${e.kind}${e.slice ? ` ${e.slice}` : ''}${e.link ? `/${e.link}` : ''}${e.node ? ` @${e.node}` : ''}: ${e.message}`));

  const { def, pkg } = visp();
  const server = new grpc.Server();

  /** Unary handler: authorize, run, convert; any error through the one mapping. */
  const unary = <Req, Res>(verb: string, slice: (r: Req) => string | undefined, fn: (r: Req) => Promise<Res> | Res) =>
    (call: Call<Req>, cb: Cb<Res>): void => {
      void (async () => {
        try {
          await controller.authorize({ peer: call.getPeer() }, verb, slice(call.request));
          cb(null, await fn(call.request));
        } catch (e) {
          cb(toServiceError(e, log));
        }
      })();
    };
  const none = (): undefined => undefined;
  const bySlice = (r: { slice: string }): string => r.slice;

  server.addService(pkg.visp.v1.Links.service, {
    GetVersion: unary('GetVersion', none, () => {
      const v = controller.getVersion();
      return { api: 'visp.v1', geniApi: 3, software: v.software, encapsulations: v.encapsulations.map(encapToPb) };
    }),
    ListResources: unary('ListResources', none, () => ({
      nodes: controller.listResources().map((n) => ({ name: n.name, connected: n.connected, underlayAddresses: n.underlay, encapsulations: n.encapsulations.map(encapToPb) })),
    })),
    Allocate: unary('Allocate', bySlice, async (r: { slice: string; topology: unknown; endTime: string }) => {
      const topology = topologyFromPb(r.topology as never);
      return { manifest: manifestToPb(await controller.allocate({ slice: r.slice, topology: topology!, ...(r.endTime ? { endTime: r.endTime } : {}) })) };
    }),
    Provision: unary('Provision', bySlice, async (r: { slice: string }) => ({ manifest: manifestToPb(await controller.provision(r.slice)) })),
    Status: unary('Status', bySlice, (r: { slice: string }) => ({ manifest: manifestToPb(controller.status(r.slice)) })),
    Describe: unary('Describe', bySlice, (r: { slice: string }) => ({ manifest: manifestToPb(controller.describe(r.slice)) })),
    Renew: unary('Renew', bySlice, async (r: { slice: string; endTime: string }) => ({ manifest: manifestToPb(await controller.renew(r.slice, r.endTime)) })),
    PerformOperationalAction: unary('PerformOperationalAction', bySlice, async (r: { slice: string; slivers: string[]; action: string }) =>
      ({ manifest: manifestToPb(await controller.performAction(r.slice, r.slivers, actionFromPb(r.action))) })),
    Delete: unary('Delete', bySlice, async (r: { slice: string }) => ({ manifest: manifestToPb(await controller.delete(r.slice)) })),
    Shutdown: unary('Shutdown', bySlice, async (r: { slice: string }) => ({ manifest: manifestToPb(await controller.shutdown(r.slice)) })),
  } as grpc.UntypedServiceImplementation);

  const tunnelToPb = (t: ReturnType<Controller['listTunnels']>[number]): Record<string, unknown> => ({
    sliver: `${t.slice}/${t.link}`, slice: t.slice, link: t.link, node: t.node, encapsulation: encapToPb(t.kind as TunnelKind), key: t.key,
    local: t.local, remotes: t.remotes, bridge: t.bridge ?? '', devices: t.devices, netns: t.netns, ifname: t.ifname, addresses: t.addresses,
    state: stateToPb(t.state), error: t.error ?? '', rxPackets: t.rxPackets, txPackets: t.txPackets, rxBytes: t.rxBytes, txBytes: t.txBytes, dataplane: t.dataplane ?? '',
  });

  server.addService(pkg.visp.v1.Operator.service, {
    ListNodes: unary('ListNodes', none, () => ({
      nodes: controller.listNodes().map((n) => ({
        name: n.name, connected: n.connected, lastSeen: iso(n.lastSeen), underlayAddresses: n.underlay, endpoints: n.endpoints,
        capabilities: n.capabilities.map(capabilityToPb),
      })),
    })),
    ListSlices: unary('ListSlices', none, () => ({
      slices: controller.listSlices().map((m) => ({
        slice: m.slice, allocationState: `ALLOCATION_STATE_${m.allocation.toUpperCase()}`, operationalState: stateToPb(m.state),
        endTime: iso(m.endTime), expires: iso(m.expiresAt), links: m.slivers.length,
        ready: m.slivers.filter((s) => s.state === 'ready').length, failed: m.slivers.filter((s) => s.state === 'failed').length,
      })),
    })),
    ListTunnels: unary('ListTunnels', none, (r: { node: string; slice: string; state: string }) => {
      const state = stateFromPb(r.state);
      return { tunnels: controller.listTunnels({ ...(r.node ? { node: r.node } : {}), ...(r.slice ? { slice: r.slice } : {}), ...(state ? { state } : {}) }).map(tunnelToPb) };
    }),
    GetTunnel: unary('GetTunnel', none, (r: { sliver: string; node: string }) => {
      const tunnels = controller.listTunnels({ sliver: r.sliver, ...(r.node ? { node: r.node } : {}) });
      if (!tunnels.length) throw new NotFoundError(`sliver: no tunnel for "${r.sliver}"${r.node ? ` on node ${r.node}` : ''}`, { field: 'sliver' });
      return { tunnels: tunnels.map(tunnelToPb) };
    }),
    WatchEvents: (call: grpc.ServerWritableStream<{ slice: string; node: string }, unknown>) => {
      const f = call.request;
      const on = (e: ControllerEvent): void => {
        if (f.slice && e.slice !== f.slice) return;
        if (f.node && e.node !== f.node) return;
        call.write({ time: iso(e.time), kind: e.kind, slice: e.slice ?? '', link: e.link ?? '', node: e.node ?? '', state: e.state ? stateToPb(e.state) : 'OPERATIONAL_STATE_UNSPECIFIED', message: e.message });
      };
      controller.on('event', on);
      call.on('cancelled', () => controller.off('event', on));
      call.on('close', () => controller.off('event', on));
    },
    SetEgressNode: unary('SetEgressNode', none, async (r: SetEgressNodeRequest__Output) => {
      if (r.remove) {
        await controller.removeEgressNode(r.config?.node ?? '');
        return { config: r.config ?? {} };
      }
      return { config: configToPb(await controller.setEgressNode(configFromPb(r.config))) };
    }),
    ListBgp: unary('ListBgp', none, (r: { node: string }) => ({
      nodes: controller.listBgp(r.node || undefined).map((n) => {
        const st = statusToPb(n.status);
        return { node: n.node, connected: n.connected, config: configToPb(n.config), running: st.running ?? false, error: st.error ?? '', pid: st.pid ?? 0, peers: st.peers ?? [], slices: st.slices ?? [] };
      }),
    })),
    Plan: unary('Plan', bySlice, async (r: { slice: string; topology: unknown; endTime: string }) => {
      const p = await controller.plan({ slice: r.slice, topology: topologyFromPb(r.topology as never)!, ...(r.endTime ? { endTime: r.endTime } : {}) });
      return { manifest: manifestToPb(p.manifest), nodes: p.nodes.map((n) => ({ node: n.node, steps: n.steps, error: n.error ?? '' })) };
    }),
  } as grpc.UntypedServiceImplementation);

  server.addService(pkg.visp.v1.Agent.service, {
    Connect: (call: grpc.ServerDuplexStream<ConnectRequest__Output, ConnectResponse>) => agentStream(controller, call, log),
  } as grpc.UntypedServiceImplementation);

  const health = new HealthImplementation({ '': 'SERVING', 'visp.v1.Links': 'SERVING', 'visp.v1.Operator': 'SERVING', 'visp.v1.Agent': 'SERVING' });
  health.addToServer(server);
  new ReflectionService(def).addToServer(server);

  const address = await new Promise<string>((resolve, reject) => {
    server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(err);
      else resolve(opts.listen.startsWith('unix:') ? opts.listen : opts.listen.replace(/:0$/, `:${port}`));
    });
  });
  log(`controller listening on ${address}`);
  return {
    address,
    controller,
    close: async () => {
      controller.stop();
      await new Promise<void>((r) => server.tryShutdown(() => r()));
      server.forceShutdown();
      await store.close();
    },
  };
}

/** One agent's stream: Register first, then reports and plan answers; desired state flows down. */
function agentStream(controller: Controller, call: grpc.ServerDuplexStream<ConnectRequest__Output, ConnectResponse>, log: (l: string) => void): void {
  let node: string | undefined;
  let nextPlan = 1;
  const plans = new Map<number, (r: PlanReply) => void>();
  const session: AgentSession = {
    send(state: DesiredState) {
      call.write({ desired: {
        generation: state.generation, endpoints: state.endpoints.map(endpointToPb), teardowns: state.teardowns,
        egress: desiredToPb(state.egress),
      } });
    },
    plan(endpoints) {
      const id = nextPlan++;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { plans.delete(id); reject(new Error(`node ${node}: no plan answer within 10 s`)); }, 10_000);
        plans.set(id, (r) => { clearTimeout(t); resolve(r); });
        call.write({ plan: { id, endpoints: endpoints.map(endpointToPb) } });
      });
    },
  };
  call.on('data', (m: ConnectRequest__Output) => {
    void (async () => {
      try {
        if (m.register) {
          node = m.register.node;
          await controller.agentConnected({
            node, underlay: m.register.underlayAddresses,
            capabilities: m.register.capabilities.map(capabilityFromPb),
          }, session);
        } else if (m.report && node) {
          await controller.agentReport(node, {
            generation: m.report.generation, repairs: m.report.repairs, tornDown: m.report.tornDown,
            ...(m.report.egress?.enabled ? { egress: statusFromPb(m.report.egress)! } : {}),
            endpoints: m.report.endpoints.map((e) => ({
              slice: e.slice, link: e.link, state: stateFromPb(e.state) ?? 'configuring', ...(e.error ? { error: e.error } : {}), ...(e.bridge ? { bridge: e.bridge } : {}),
              devices: e.devices, rxPackets: e.rxPackets, txPackets: e.txPackets, rxBytes: e.rxBytes, txBytes: e.txBytes,
              ...(e.dataplane ? { dataplane: e.dataplane } : {}),
            })),
          });
        } else if (m.planResult) {
          plans.get(m.planResult.id)?.({ endpoints: m.planResult.endpoints.map((e) => ({ slice: e.slice, link: e.link, steps: e.steps, ...(e.error ? { error: e.error } : {}) })) });
          plans.delete(m.planResult.id);
        }
      } catch (e) {
        const se = toServiceError(e, log);
        call.emit('error', se);
        call.end();
      }
    })();
  });
  const gone = (): void => { if (node) controller.agentDisconnected(node, session); };
  call.on('end', () => { gone(); call.end(); });
  call.on('cancelled', gone);
  call.on('error', gone);
}
