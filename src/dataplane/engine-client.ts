// Client for visp-engine's control socket (native/engine/engine.c): one
// command per line out, one JSON object per line back, strictly in order.
// The engine keeps no state across restarts; whoever holds the specs (the
// agent) re-sends them with ensureTunnel, which is idempotent.
import { connect, type Socket } from 'node:net';
import { AlreadyExistsError, InvalidSpecError, UnavailableError, VispError } from '../errors.js';

/** Layer 2 (a TAP): etherip, gretap. Layer 3 (a TUN carrying IPv4/IPv6): gre. The underlay family follows the addresses. */
export type EngineKind = 'etherip' | 'gretap' | 'gre';

/** A userspace tunnel, fully resolved: the engine creates a TAP (etherip, gretap) or TUN (gre) called `name`. */
export interface EngineTunnelSpec {
  name: string;
  kind: EngineKind;
  local: string;
  remote: string;
  /** GRE key (gretap, gre); absent: no key on the wire. */
  key?: number;
  /** Underlay MTU; the TAP/TUN gets this minus the encapsulation overhead. Default 1500. */
  underlayMtu?: number;
  /** TAP MAC address (not for gre: a TUN has none); give a stable one so an engine restart does not change it (peers' ARP/ND stay valid). */
  mac?: string;
}

/** What `list` reports for one tunnel. */
export interface EngineTunnelState {
  name: string;
  kind: EngineKind;
  local: string;
  remote: string;
  key: number | null;
  mac: string | null;
  underlayMtu: number;
  mtu: number;
  /** What the underlay carries toward the remote now: the smaller of underlayMtu and the kernel's route MTU (device, learnt PMTU). */
  pathMtu?: number;
  /** Inner packets too big for pathMtu answered with ICMP "fragmentation needed" / ICMPv6 "packet too big" (each also counts in txDropOversize). */
  tooBig?: number;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  txDropOversize: number;
  txDropError: number;
  rxDropError: number;
  /** TSO frames from the device, cut into MTU-sized segments by the engine (their segments count in txPackets). */
  txGsoFrames: number;
  /** Merged frames written to the device: several received TCP segments at once (each segment counts in rxPackets). */
  rxGroFrames: number;
  /** Its device was deleted under the engine: no longer polled until deleted and added again. */
  detached?: boolean;
  /** Sending by the AF_XDP fast path: its route's device has a port and the next hop's MAC is known. */
  fastPath?: boolean;
  /** Packets sent / received through the fast path (they count in txPackets / rxPackets too). */
  txXdp?: number;
  rxXdp?: number;
}

/** The engine's AF_XDP fast path (docs/dataplane.md). */
export interface EngineXdp {
  /** auto, native or generic when on; `off: REASON` when the engine runs on raw sockets alone. */
  status: string;
  /** Underlay devices with the XDP program attached. */
  ports: Array<{ device: string; mode: 'native' | 'generic'; queues: number; tunnels: number; rxLost: number }>;
  /** Devices where it could not attach (their tunnels use raw sockets), and why. */
  failed: Array<{ device: string; error: string }>;
}

/** Packets dropped before they reached any tunnel, by reason. */
export interface EngineDrops {
  truncated: number;
  badVersion: number;
  badFlags: number;
  badProtocol: number;
  unknownPeer: number;
  unknownKey: number;
  /** Fast path only: an IPv4 header checksum or length the kernel's IP layer would have refused. */
  badIpHeader?: number;
}

export interface EngineList { tunnels: EngineTunnelState[]; drops: EngineDrops; xdp?: EngineXdp }

interface Reply { ok: boolean; error?: string; code?: string; [k: string]: unknown }

const PLAIN = /^[A-Za-z0-9_.:-]+$/;

/** The engine's `add` line for a spec; validated here so the engine never sees junk. */
export function addCommand(spec: EngineTunnelSpec): string {
  for (const [field, v] of [['name', spec.name], ['local', spec.local], ['remote', spec.remote]] as const) {
    if (!PLAIN.test(v)) throw new InvalidSpecError(`engine tunnel ${field} ${JSON.stringify(v)}: only [A-Za-z0-9_.:-]`, { field });
  }
  if (spec.name.length > 15) throw new InvalidSpecError(`engine tunnel name ${spec.name}: longer than 15 bytes`, { field: 'name' });
  if (!['etherip', 'gretap', 'gre'].includes(spec.kind)) {
    throw new InvalidSpecError(`engine tunnel ${spec.name}: kind ${JSON.stringify(spec.kind)} (etherip, gretap or gre)`, { field: 'kind' });
  }
  if (spec.key !== undefined && (spec.kind === 'etherip' || !Number.isInteger(spec.key) || spec.key < 0 || spec.key > 0xffffffff)) {
    throw new InvalidSpecError(`engine tunnel ${spec.name}: key ${spec.key} (gretap and gre only, 0..2^32-1)`, { field: 'key' });
  }
  if (spec.mac !== undefined && spec.kind === 'gre') {
    throw new InvalidSpecError(`engine tunnel ${spec.name}: a gre tunnel is a TUN and has no MAC`, { field: 'mac' });
  }
  const parts = ['add', `name=${spec.name}`, `kind=${spec.kind}`, `local=${spec.local}`, `remote=${spec.remote}`];
  if (spec.key !== undefined) parts.push(`key=${spec.key}`);
  if (spec.underlayMtu !== undefined) parts.push(`mtu=${spec.underlayMtu}`);
  if (spec.mac !== undefined) {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(spec.mac) || (parseInt(spec.mac.slice(0, 2), 16) & 1)) {
      throw new InvalidSpecError(`engine tunnel ${spec.name}: mac ${spec.mac} (a unicast xx:xx:xx:xx:xx:xx)`, { field: 'mac' });
    }
    parts.push(`mac=${spec.mac.toLowerCase()}`);
  }
  return parts.join(' ');
}

/** One connection to an engine. Requests are serialized: the engine answers in order. */
export class EngineClient {
  private sock: Socket | undefined;
  private buf = '';
  private waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly socketPath: string) {}

  private open(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    return new Promise((resolve, reject) => {
      const s = connect(this.socketPath);
      s.setEncoding('utf8');
      s.once('connect', () => { this.sock = s; resolve(s); });
      s.once('error', (err) => {
        reject(new UnavailableError(`engine control ${this.socketPath}: ${err.message}`, { cause: err }));
        this.failAll(err);
      });
      s.on('close', () => { this.sock = undefined; this.failAll(new Error('engine closed the control socket')); });
      s.on('data', (d: string) => {
        this.buf += d;
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, nl);
          this.buf = this.buf.slice(nl + 1);
          const w = this.waiting.shift();
          try { w?.resolve(JSON.parse(line) as Reply); } catch (err) {
            w?.reject(new UnavailableError(`engine control ${this.socketPath}: unreadable reply ${JSON.stringify(line.slice(0, 80))}`, { cause: err }));
          }
        }
      });
    });
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(new UnavailableError(`engine control ${this.socketPath}: ${err.message}`, { cause: err }));
  }

  /** Send one line, wait for its reply (queued behind earlier requests). */
  request(line: string, signal?: AbortSignal): Promise<Reply> {
    const run = async (): Promise<Reply> => {
      signal?.throwIfAborted();
      const s = await this.open();
      return new Promise<Reply>((resolve, reject) => {
        const onAbort = (): void => { s.destroy(); reject(signal!.reason as Error); };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push({
          resolve: (r) => { signal?.removeEventListener('abort', onAbort); resolve(r); },
          reject: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
        });
        s.write(`${line}\n`);
      });
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async ok(line: string, what: string, signal?: AbortSignal): Promise<Reply> {
    const r = await this.request(line, signal);
    if (r.ok) return r;
    if (r.code === 'EEXIST') throw new AlreadyExistsError(`engine ${what}: ${r.error}`);
    throw new VispError('VISP_ENGINE', `engine ${what}: ${r.error}`);
  }

  async ping(signal?: AbortSignal): Promise<number> {
    return (await this.ok('ping', 'ping', signal)).pid as number;
  }

  /** Create the tunnel (and its TAP), or confirm it exists as specified. Returns the TAP MTU. */
  async ensureTunnel(spec: EngineTunnelSpec, signal?: AbortSignal): Promise<{ mtu?: number; existed: boolean }> {
    const r = await this.ok(addCommand(spec), `add ${spec.kind} ${spec.name}`, signal);
    return { existed: r.existed === true, ...(typeof r.mtu === 'number' ? { mtu: r.mtu } : {}) };
  }

  /** Remove the tunnel; already gone is success. */
  async deleteTunnel(name: string, signal?: AbortSignal): Promise<void> {
    if (!PLAIN.test(name)) throw new InvalidSpecError(`engine tunnel name ${JSON.stringify(name)}`, { field: 'name' });
    await this.ok(`del name=${name}`, `del ${name}`, signal);
  }

  async list(signal?: AbortSignal): Promise<EngineList> {
    const r = await this.ok('list', 'list', signal);
    return { tunnels: r.tunnels as EngineTunnelState[], drops: r.drops as EngineDrops, ...(r.xdp ? { xdp: r.xdp as EngineXdp } : {}) };
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}
