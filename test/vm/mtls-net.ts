// The VM lane's proof on separate kernels (test/vm/mtls-hosts.test.ts in the
// guest, test/vm/mtls-host.ts on the host): what both sides agree on. The
// network is qemu's second NIC (tap vmtap1 in the lane's host namespace):
// there it is a port of bridge vmbr1, which also joins the host node's
// namespace by a veth, so controller, guest and host node share one LAN.
//
//   198.18.10.1  the controller (mTLS, TCP port 7443), on vmbr1 in the lane's namespace
//   198.18.10.2  the guest: node vm1 (its own kernel, agent in its root namespace)
//   198.18.10.3  the host node h1 (a namespace of the host, agent under nsenter)
//
// The two sides talk over the guest's writable share (/run/vmout inside,
// the lane's run dir outside), in its subdirectory `mtls/`, by files written
// whole (temporary name, then rename):
//   guest-started     the guest's test file began (the lane then requires the host side's exit 0)
//   host-ready.json   HostReady: the controller is up and h1 is connected
//   req-N.json        a HostRequest from the guest; res-N.json the host's answer (HostAnswer)
//   guest-done        the guest is finished; the host side tears down and exits
import { renameSync, writeFileSync } from 'node:fs';

export const MTLS_DIR = 'mtls';
export const CONTROLLER = { v4: '198.18.10.1', port: 7443 } as const;
export const GUEST = { node: 'vm1', v4: '198.18.10.2', mac: '52:54:00:9a:00:03' } as const;
export const HOST = { node: 'h1', v4: '198.18.10.3' } as const;
/** A node the testbed knows (it has a certificate) that runs nowhere: the impostor holds its certificate. */
export const OTHER_NODE = 'vm2';
export const PREFIX_LEN = 24;

/** What the host side publishes once it is up. Paths are relative to the mtls/ share directory. */
export interface HostReady {
  controller: string;
  /** The slice the guest allocates (its experiment namespaces are the host side's to check and remove). */
  slice: string;
  files: {
    ca: string;
    am: { cert: string; key: string };
    operator: { cert: string; key: string };
    nodes: Record<string, { cert: string; key: string }>;
  };
  /** Seconds from the host side's start to ready. */
  upS: number;
}

export type HostRequest =
  /** Ping from the host's experiment namespaces (of the slice only). */
  | { op: 'ping'; pings: Array<{ netns: string; dst: string }> }
  /** What the host node holds beyond its baseline (waits up to waitMs for it to be empty). */
  | { op: 'leftovers'; waitMs: number }
  /** The controller's audit records so far. */
  | { op: 'audit' }
  /** The host engine's tunnels with their counters. */
  | { op: 'engine' };

export interface HostAnswer {
  error?: string;
  pings?: Array<{ netns: string; dst: string; ok: boolean }>;
  leftovers?: string[];
  audit?: Array<Record<string, string>>;
  engine?: { tunnels: Array<{ name: string; kind: string; txPackets: number; rxPackets: number }>; xdp?: string };
}

/** Write `data` as `path`, whole: readers polling for the name never see half of it. */
export function writeWhole(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}
