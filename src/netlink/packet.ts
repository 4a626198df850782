// The link-health probe socket: AF_PACKET on one device, with kernel receive
// timestamps, answering requests natively (native/pktsock.c says why). This
// file knows the frame's bytes; src/health/ knows what a probe means.
import { isIPv4 } from 'node:net';
import { ipToBytes } from './codec.js';
import { nativeNetlink, type ProbeHandle } from './native.js';
import { netnsPath } from './socket.js';

/** IEEE 802 "local experimental" ethertype 1: never forwarded by visp's bridges (src/health/guard.ts). */
export const PROBE_ETHERTYPE = 0x88b5;
export const PROBE_FRAME_LEN = 86;
const OFF = { magic: 14, op: 18, requester: 22, target: 38, id: 54, seq: 58 } as const;
/** Source MAC of every probe: locally administered, never a real port's (bridges drop probes before learning). */
const PROBE_SRC_MAC = Buffer.from([0x02, 0x76, 0x69, 0x73, 0x70, 0x00]);

/** An underlay address as the frame carries it: 16 bytes, IPv4 mapped into IPv6. */
export function addr16(a: string): Buffer {
  if (!isIPv4(a)) return ipToBytes(a);
  return Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), ipToBytes(a)]);
}

/** A request from `requester` to `target`, probe id `id`; its seq is set per send (setSeq). */
export function requestFrame(requester: string, target: string, id: number): Buffer {
  const f = Buffer.alloc(PROBE_FRAME_LEN);
  f.fill(0xff, 0, 6); // broadcast: a VXLAN LAN replicates it to every member; only the target answers
  PROBE_SRC_MAC.copy(f, 6);
  f.writeUInt16BE(PROBE_ETHERTYPE, 12);
  f.write('vHP1', OFF.magic, 'latin1');
  f[OFF.op] = 1;
  addr16(requester).copy(f, OFF.requester);
  addr16(target).copy(f, OFF.target);
  f.writeUInt32LE(id >>> 0, OFF.id);
  return f;
}

export const setSeq = (frame: Buffer, seq: number): void => { frame.writeUInt32LE(seq >>> 0, OFF.seq); };

/** One answer: which probe, which send, the round trip less the far end's turnaround, and when it arrived (ms since the epoch, the kernel's stamp). */
export interface ProbeAnswer { id: number; seq: number; rttNs: number; atMs: number }

export function decodeAnswers(records: Buffer): ProbeAnswer[] {
  const out: ProbeAnswer[] = [];
  for (let o = 0; o + 24 <= records.length; o += 24) {
    out.push({
      id: records.readUInt32LE(o), seq: records.readUInt32LE(o + 4), rttNs: Number(records.readBigInt64LE(o + 8)),
      atMs: Number(records.readBigUInt64LE(o + 16) / 1000n) / 1000,
    });
  }
  return out;
}

/** A probe socket on device `ifindex` (in namespace `netns`, default ours) for this node's underlay address `local`. */
export class ProbeSocket {
  private readonly h: ProbeHandle;
  private closed = false;

  constructor(opts: { netns?: string; ifindex: number; local: string; onAnswers: (a: ProbeAnswer[]) => void }) {
    this.h = nativeNetlink().pkOpen(opts.netns ? netnsPath(opts.netns) : null, opts.ifindex, addr16(opts.local),
      (records) => opts.onAnswers(decodeAnswers(records)));
  }

  /** Sends a request (its send time stamped natively); 0, or a negative errno (a device down, gone). */
  send(frame: Buffer): number {
    return this.closed ? 0 : nativeNetlink().pkSend(this.h, frame);
  }

  /** How many requests from the far end this socket has answered. */
  answered(): number { return this.closed ? 0 : nativeNetlink().pkAnswered(this.h); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNetlink().pkClose(this.h);
  }
}
