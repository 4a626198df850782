// Link change events on a socket of their own (a busy request socket must
// never delay or drop notifications, and vice versa).
//
// The kernel drops notifications when the receive buffer is full (ENOBUFS):
// then the listener cannot know what it missed. LinkWatcher answers that by
// resyncing: it dumps all links again and replaces its view, so consumers
// always end with a correct picture even after a burst while the event loop
// was blocked.
import { EventEmitter } from 'node:events';
import { RTM, RTNLGRP } from './constants.js';
import { decodeMessages } from './codec.js';
import { decodeLink, linkList, type Link } from './link.js';
import { nativeNetlink, type NativeHandle } from './native.js';
import { NetlinkSocket, netnsPath } from './socket.js';

export interface LinkEvent { type: 'new' | 'del'; link: Link }

export interface LinkWatcherEvents {
  link: [LinkEvent];
  /** Notifications were lost; a resync follows. */
  overflow: [];
  /** The view was rebuilt from a dump. */
  resync: [number];
  error: [Error];
}

/** Keeps an up-to-date map ifindex → Link for one namespace. */
export class LinkWatcher extends EventEmitter<LinkWatcherEvents> {
  readonly links = new Map<number, Link>();
  overflows = 0;
  resyncs = 0;
  private readonly h: NativeHandle;
  private readonly req: NetlinkSocket;
  private resyncing: Promise<void> | undefined;
  private dirty = false;
  /** Messages were lost; resync at the next drained read (see below). */
  private stale = false;
  private closed = false;

  constructor(opts: { netns?: string; rcvbuf?: number } = {}) {
    super();
    const groups = 1 << (RTNLGRP.LINK - 1);
    this.h = nativeNetlink().open(0, groups, opts.netns ? netnsPath(opts.netns) : null, opts.rcvbuf ?? 4 << 20,
      (bufs, drained) => this.onData(bufs, drained), (code) => this.onError(code));
    nativeNetlink().ref(this.h, true);
    this.req = new NetlinkSocket({ netns: opts.netns });
  }

  /** Initial fill; call once after construction. */
  async start(): Promise<void> { await this.resync(); }

  /** Dump again and replace the view; concurrent calls share one dump. */
  resync(): Promise<void> {
    if (this.resyncing) { this.dirty = true; return this.resyncing; }
    this.resyncing = (async () => {
      do {
        this.dirty = false;
        const all = await linkList(this.req);
        this.links.clear();
        for (const l of all) this.links.set(l.index, l);
      } while (this.dirty && !this.closed);
      this.resyncs++;
      this.emit('resync', this.links.size);
    })().finally(() => { this.resyncing = undefined; });
    return this.resyncing;
  }

  /**
   * Whether `links` is the namespace as it is now, as far as can be known
   * without a dump: filled, no dump running, nothing lost, no notification
   * queued and not applied yet.
   */
  current(): boolean {
    return !this.closed && this.resyncs > 0 && !this.resyncing && !this.stale && !nativeNetlink().pending(this.h);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNetlink().close(this.h);
    this.req.close();
  }

  private onData(bufs: Buffer[], drained: boolean): void {
    for (const b of bufs) {
      for (const m of decodeMessages(b)) {
        if (m.type !== RTM.NEWLINK && m.type !== RTM.DELLINK) continue;
        const link = decodeLink(m.payload);
        if (m.type === RTM.NEWLINK) this.links.set(link.index, link);
        else this.links.delete(link.index);
        // A dump in progress may predate this event: redo it afterwards.
        if (this.resyncing) this.dirty = true;
        this.emit('link', { type: m.type === RTM.NEWLINK ? 'new' : 'del', link });
      }
    }
    // After an overflow the kernel keeps dropping silently until our queue is
    // empty; a dump started before then could miss those. Start it now.
    if (drained && this.stale && !this.closed) {
      this.stale = false;
      this.resync().catch((e: Error) => this.emit('error', e));
    }
  }

  private onError(code: string): void {
    if (code !== 'ENOBUFS') {
      this.emit('error', new Error(`link watcher socket: ${code}`));
      return;
    }
    this.overflows++;
    this.stale = true;
    if (this.resyncing) this.dirty = true;
    this.emit('overflow');
  }
}
