// Capability probe: which tunnel kinds this kernel can create. Each kind is
// tried once, for real, on a throwaway device in a scratch namespace (module
// autoloading included), so the answer is the kernel's, not a guess from
// /proc or /lib/modules. Where the kernel has no driver, visp-engine (the
// userspace data plane) takes the kind if it can carry it and is built.
import { randomBytes } from 'node:crypto';
import { IncompatibleStateError, KernelError } from '../errors.js';
import { linkAdd } from '../netlink/link.js';
import { netnsAdd, netnsDel } from '../netlink/netns.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { drivers } from './registry.js';
import { TUNNEL_KINDS, type Dataplane, type TunnelKind, type TunnelSpec } from './types.js';
import { ENGINE_KINDS, engineUnavailableReason } from './userspace.js';

export interface KindSupport {
  kind: TunnelKind;
  supported: boolean;
  /** Why not (unsupported only). */
  reason?: string;
  /** Who carries the kind here (supported only): the kernel's driver, or visp-engine where the kernel has none. */
  dataplane?: Dataplane;
}
export type Capabilities = Readonly<Record<TunnelKind, KindSupport>>;

const SAMPLE: Record<4 | 6, Pick<TunnelSpec, 'local' | 'remote'>> = {
  4: { local: '198.18.255.1', remote: '198.18.255.2' },
  6: { local: '2001:db8:ffff::1', remote: '2001:db8:ffff::2' },
};

/** Probe every kind in a fresh namespace, then remove it. */
export async function probeCapabilities(): Promise<Capabilities> {
  const ns = `visp-probe-${process.pid}-${randomBytes(2).toString('hex')}`;
  await netnsAdd(ns);
  const s = new NetlinkSocket({ netns: ns });
  try {
    const out = {} as Record<TunnelKind, KindSupport>;
    const noEngine = engineUnavailableReason();
    for (const kind of TUNNEL_KINDS) out[kind] = withEngine(await probeKind(s, kind), noEngine);
    return out;
  } finally {
    s.close();
    await netnsDel(ns);
  }
}

/** The kernel's answer, completed by the engine: a kind the kernel lacks goes to userspace if the engine can carry it. */
function withEngine(k: KindSupport, noEngine: string | undefined): KindSupport {
  if (k.supported) return { ...k, dataplane: 'kernel' };
  if (!ENGINE_KINDS[k.kind]) return k;
  if (noEngine) return { ...k, reason: `${k.reason}, and ${noEngine}` };
  return { kind: k.kind, supported: true, dataplane: 'userspace' };
}

async function probeKind(s: NetlinkSocket, kind: TunnelKind): Promise<KindSupport> {
  const d = drivers[kind];
  if (!d.linkKind) return { kind, supported: false, reason: `not available on this node: Linux has no ${kind} driver` };
  const spec: TunnelSpec = { kind, name: `probe-${kind}`.slice(0, 15), key: 1, ...SAMPLE[d.family === 6 ? 6 : 4] };
  try {
    await linkAdd(s, { name: spec.name, kind: d.linkKind, data: d.encode(spec) }, undefined, `probe ${kind}`);
    return { kind, supported: true };
  } catch (e) {
    const errno = e instanceof KernelError ? e.errnoName : String(e);
    return { kind, supported: false, reason: `not available on this node: kernel module ${d.module} missing (${errno})` };
  }
}

/** The FAILED_PRECONDITION-style error for a spec of an unsupported kind. */
export function assertSupported(caps: Capabilities, kind: TunnelKind): void {
  const c = caps[kind];
  if (!c.supported) throw new IncompatibleStateError(`${kind}: ${c.reason}`, { field: 'kind' });
}
