// Loads visp's own addon: the netlink socket (native/nlsock.c), the
// link-health probe socket (native/pktsock.c) and named namespaces made
// in-process (native/netnsmake.c). Found by walking up
// from this file to the package root, so it works from src/ (tests) and dist/.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeHandle { readonly __brand: 'nlsock' }
export interface NativeNetlink {
  open(protocol: number, groups: number, netnsPath: string | null, rcvbuf: number,
    onData: (bufs: Buffer[], drained: boolean) => void, onError: (code: string, errno: number) => void): NativeHandle;
  send(h: NativeHandle, buf: Buffer): number;
  /** The send on libuv's thread pool (the kernel runs an rtnetlink request inside sendmsg, under RTNL); cb gets an errno name or null. */
  sendAsync(h: NativeHandle, buf: Buffer, cb: (code: string | null, errno: number) => void): void;
  port(h: NativeHandle): number;
  membership(h: NativeHandle, group: number, add: boolean): void;
  ref(h: NativeHandle, ref: boolean): void;
  rcvbuf(h: NativeHandle): number;
  /** Whether a message (or an overflow) is queued and not read yet. */
  pending(h: NativeHandle): boolean;
  close(h: NativeHandle): void;
  /** A link-health probe socket on one device (native/pktsock.c; src/netlink/packet.ts). */
  pkOpen(netnsPath: string | null, ifindex: number, local: Buffer, onAnswers: (records: Buffer) => void): ProbeHandle;
  pkSend(h: ProbeHandle, frame: Buffer): number;
  pkAnswered(h: ProbeHandle): number;
  pkClose(h: ProbeHandle): void;
  /**
   * Make the named namespace /run/netns/NAME as `ip netns add` does (native/netnsmake.c), its lo up
   * first when asked. Rejects with .code (errno name), .errno and .step: "create" with EEXIST means the name is taken.
   */
  netnsCreate(name: string, loopbackUp: boolean): Promise<true>;
  /** Remove it as `ip netns del` does (detach-unmount, unlink); .step "remove" with ENOENT: no such name. */
  netnsDelete(name: string): Promise<true>;
}
/** How netnsCreate and netnsDelete fail. */
export interface NetnsError extends Error { code: string; errno: number; step: string }
export interface ProbeHandle { readonly __brand: 'pksock' }

function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'visp_nl.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('visp_nl.node not built: run `bash scripts/build.sh` (or the README setup)');
}

let cached: NativeNetlink | undefined;
export function nativeNetlink(): NativeNetlink {
  cached ??= createRequire(import.meta.url)(findAddon()) as NativeNetlink;
  return cached;
}
