// A request/response rtnetlink socket over our native addon.
//
// - Requests carry NLM_F_ACK; the promise settles on the ack (or the error,
//   mapped to a KernelError naming the operation, the object and the errno,
//   with the kernel's extended-ack text when it gives one).
// - Messages queued in the same tick go out in one datagram: the kernel
//   processes each in order and acks each, so pipelining is safe and saves a
//   syscall per message.
// - Datagrams are sent off the event loop (the native sendAsync, on libuv's
//   thread pool), one at a time per socket so they stay in order: the kernel
//   executes rtnetlink requests inside sendmsg() under RTNL, and while
//   anyone else holds RTNL a send from the loop would stop every timer and
//   stream of the process (many lab agents share one).
// - At most `maxInFlight` requests await acks at once: acks that overflow the
//   receive buffer would be lost (ENOBUFS). If an overflow happens anyway,
//   everything pending fails with a typed error instead of hanging.
// - Dumps run one at a time (a second dump on the same socket gets EBUSY).
import { KernelError, UnavailableError } from '../errors.js';
import { NLM_F, NLMSG, NLMSGERR_ATTR, NETLINK_ROUTE, errnoName } from './constants.js';
import { decodeMessages, encodeMessage, parseAttrs, readStr, type NlMessage } from './codec.js';
import { nativeNetlink, type NativeHandle } from './native.js';

export interface SocketOptions {
  /** Network namespace: a name under /run/netns or an absolute path (e.g. /proc/PID/ns/net). */
  netns?: string;
  /** Netlink protocol (default NETLINK_ROUTE; generic netlink for ethtool: ethtool.ts). */
  protocol?: number;
  rcvbuf?: number;
  maxInFlight?: number;
}

export interface RequestContext {
  /** Operation name for errors, e.g. "linkAdd". */
  op: string;
  /** Object description for errors, e.g. "vxlan vt-3fa9 (vni 4711)". */
  object: string;
  signal?: AbortSignal;
}

interface Pending {
  seq: number;
  ctx: RequestContext;
  dump: boolean;
  parts: NlMessage[];
  resolve: (m: NlMessage[]) => void;
  reject: (e: Error) => void;
}

interface Queued { type: number; flags: number; payload: Buffer; pending: Pending }

const MAX_DATAGRAM = 64 * 1024;

export const netnsPath = (ns: string): string => (ns.startsWith('/') ? ns : `/run/netns/${ns}`);

let sendOnLoop = false;
/** Send on the event loop, as sockets did before sendAsync: for a benchmark's comparison only. */
export function setSendOnLoop(on: boolean): void { sendOnLoop = on; }

export class NetlinkSocket {
  readonly netns: string | undefined;
  private readonly h: NativeHandle;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, Pending>();
  private queue: Queued[] = [];
  private waiting: Queued[] = []; // over the in-flight bound
  private flushScheduled = false;
  private dumpChain: Promise<unknown> = Promise.resolve();
  /** Datagrams waiting for the one in flight (sendAsync) to complete. */
  private outbox: Buffer[] = [];
  private sending = false;
  private closed = false;
  private readonly maxInFlight: number;
  /** Messages sent and datagrams used, for benchmarks and tests. */
  readonly stats = { messages: 0, datagrams: 0 };

  constructor(opts: SocketOptions = {}) {
    this.netns = opts.netns;
    this.maxInFlight = opts.maxInFlight ?? 256;
    this.h = nativeNetlink().open(opts.protocol ?? NETLINK_ROUTE, 0, opts.netns ? netnsPath(opts.netns) : null,
      opts.rcvbuf ?? 4 << 20, (bufs) => this.onData(bufs), (code, errno) => this.onError(code, errno));
  }

  /** Send one request; resolves with the reply messages ([] for a plain ack). */
  request(type: number, flags: number, payload: Buffer, ctx: RequestContext): Promise<NlMessage[]> {
    if (this.closed) return Promise.reject(new UnavailableError(`${ctx.op} ${ctx.object}: netlink socket closed`));
    if (ctx.signal?.aborted) return Promise.reject(ctx.signal.reason ?? new Error('aborted'));
    return new Promise((resolve, reject) => {
      const seq = this.nextSeq();
      const p: Pending = { seq, ctx, dump: (flags & NLM_F.DUMP) === NLM_F.DUMP, parts: [], resolve, reject };
      const q: Queued = { type, flags: flags | NLM_F.REQUEST | NLM_F.ACK, payload, pending: p };
      if (this.pending.size + this.queue.length >= this.maxInFlight) this.waiting.push(q);
      else this.enqueue(q);
    });
  }

  /** A dump, serialized with other dumps on this socket. */
  dump(type: number, payload: Buffer, ctx: RequestContext): Promise<NlMessage[]> {
    const run = (): Promise<NlMessage[]> => this.request(type, NLM_F.DUMP, payload, ctx);
    const p = this.dumpChain.then(run, run);
    this.dumpChain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNetlink().close(this.h);
    this.failAll((p) => new UnavailableError(`${p.ctx.op} ${p.ctx.object}: netlink socket closed`));
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private enqueue(q: Queued): void {
    this.queue.push(q);
    this.pending.set(q.pending.seq, q.pending);
    nativeNetlink().ref(this.h, true);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const q = this.queue;
    this.queue = [];
    let batch: Buffer[] = [];
    let size = 0;
    const sendBatch = (): void => {
      if (!batch.length) return;
      this.transmit(batch.length === 1 ? batch[0]! : Buffer.concat(batch, size));
      batch = [];
      size = 0;
    };
    for (const item of q) {
      const msg = encodeMessage(item.type, item.flags, item.pending.seq, item.payload);
      this.stats.messages++;
      // A dump answers in several datagrams of its own; keep it alone.
      if (item.pending.dump || size + msg.length > MAX_DATAGRAM) sendBatch();
      batch.push(msg);
      size += msg.length;
      if (item.pending.dump) sendBatch();
    }
    sendBatch();
    this.maybeUnref();
  }

  /** Queue a datagram; the one in flight (if any) goes first. */
  private transmit(buf: Buffer): void {
    this.outbox.push(buf);
    if (!this.sending) this.pump();
  }

  private pump(): void {
    const buf = this.outbox.shift();
    if (!buf || this.closed) { this.sending = false; this.outbox = []; this.maybeUnref(); return; }
    this.sending = true;
    if (sendOnLoop) {
      try { nativeNetlink().send(this.h, buf); this.stats.datagrams++; } catch (e) { this.sendFailed(buf, e); }
      this.pump();
      return;
    }
    try {
      nativeNetlink().sendAsync(this.h, buf, (code, errno) => {
        if (code) this.sendFailed(buf, Object.assign(new Error(`sendto: ${code}`), { code, errno }));
        else this.stats.datagrams++;
        this.pump();
      });
    } catch (e) {
      this.sendFailed(buf, e);
      this.pump();
    }
  }

  /** The whole datagram failed to send: fail exactly the requests in it. */
  private sendFailed(buf: Buffer, e: unknown): void {
    for (const m of decodeMessages(buf)) {
      const p = this.pending.get(m.seq);
      if (!p) continue;
      this.pending.delete(m.seq);
      const code = (e as { code?: string }).code ?? 'EIO';
      p.reject(new KernelError(p.ctx.op, p.ctx.object, (e as { errno?: number }).errno ?? 0, code, 'send failed', { cause: e }));
    }
  }

  private onData(bufs: Buffer[]): void {
    for (const buf of bufs) {
      for (const m of decodeMessages(buf)) this.onMessage(m);
    }
    this.admitWaiting();
    this.maybeUnref();
  }

  private onMessage(m: NlMessage): void {
    const p = this.pending.get(m.seq);
    if (!p) return; // late reply to an aborted request, or a notification
    if (m.type === NLMSG.ERROR) {
      const errno = -m.payload.readInt32LE(0);
      this.pending.delete(m.seq);
      if (errno === 0) { p.resolve(p.parts); return; }
      p.reject(new KernelError(p.ctx.op, p.ctx.object, errno, errnoName(errno), extAckMessage(m)));
      return;
    }
    if (m.type === NLMSG.DONE) {
      // A dump's DONE carries an int error too (e.g. an interrupted dump).
      const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
      this.pending.delete(m.seq);
      if (errno > 0) p.reject(new KernelError(p.ctx.op, p.ctx.object, errno, errnoName(errno)));
      else p.resolve(p.parts);
      return;
    }
    // A dump part, or a single reply (GET by name): the DONE or the ack settles it.
    p.parts.push(m);
  }

  private onError(code: string, errno: number): void {
    if (code === 'ENOBUFS') {
      // Replies were dropped by the kernel; we cannot know which. Fail all
      // pending requests loudly; callers re-read state (reconcile) and retry.
      this.failAll((p) => new KernelError(p.ctx.op, p.ctx.object, errno, 'ENOBUFS', 'netlink receive buffer overflowed; reply lost'));
      return;
    }
    this.failAll((p) => new KernelError(p.ctx.op, p.ctx.object, errno, code, 'socket error'));
  }

  private failAll(mk: (p: Pending) => Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.queue = [];
    for (const p of all) p.reject(mk(p));
    const waiting = this.waiting;
    this.waiting = [];
    for (const q of waiting) q.pending.reject(mk(q.pending));
    this.maybeUnref();
  }

  private admitWaiting(): void {
    while (this.waiting.length && this.pending.size < this.maxInFlight) this.enqueue(this.waiting.shift()!);
  }

  private maybeUnref(): void {
    if (!this.closed && !this.sending && this.pending.size === 0 && this.waiting.length === 0) nativeNetlink().ref(this.h, false);
  }
}

/** The kernel's extended-ack text (NLMSGERR_ATTR_MSG), if present. */
function extAckMessage(m: NlMessage): string | undefined {
  if (!(m.flags & NLM_F.ACK_TLVS)) return undefined;
  // struct nlmsgerr = int error + the request's nlmsghdr (payload omitted: capped ack).
  const hdrLen = 4 + 16;
  const capped = (m.flags & NLM_F.CAPPED) !== 0;
  const reqLen = capped ? 16 : m.payload.readUInt32LE(4);
  const off = capped ? hdrLen : 4 + ((reqLen + 3) & ~3);
  if (off > m.payload.length) return undefined;
  return readStr(parseAttrs(m.payload, off).get(NLMSGERR_ATTR.MSG));
}
