// One namespace's view (snapshot.ts), kept between reconcile passes while
// the kernel says nothing changed. A socket subscribed to the namespace's
// link, address, route and traffic-control notifications marks the view stale on any of
// them (it is not patched from events: any change means one dump on the
// next pass, which is how a pass that has work to do reads anyway) — also
// one queued on the socket and not read yet, as a change made just before
// the read is (the kernel queues it before the change's request returns); so is a
// lost notification (ENOBUFS), a pass that changed something (its
// notifications may still be on their way), and age: every RESYNC_MS the
// view is dumped whatever the events said, for what they cannot tell.
// A no-op pass over an unchanged node then costs no dump at all, instead of
// a few per namespace.
//
// Only the reads a no-op pass makes are kept: links, addresses, routes, and
// the filters that join a tunnel to its veth (redirect.ts). FDB entries and
// qdiscs (LANs, shaped links) are read fresh each time: bridges learn MAC
// addresses all the time, and each would be an event.
import { RTNLGRP } from '../netlink/constants.js';
import { nativeNetlink, type NativeHandle } from '../netlink/native.js';
import { netnsPath, type NetlinkSocket } from '../netlink/socket.js';
import { readView, type NsView } from './snapshot.js';

/** The full resync: a kept view is read again at least this often. */
export const RESYNC_MS = 30_000;

const GROUPS = [RTNLGRP.LINK, RTNLGRP.TC, RTNLGRP.IPV4_IFADDR, RTNLGRP.IPV6_IFADDR, RTNLGRP.IPV4_ROUTE, RTNLGRP.IPV6_ROUTE]
  .reduce((m, g) => m | (1 << (g - 1)), 0);

export interface ViewWanted { addrs?: boolean; routes?: boolean; fdb?: boolean; qdiscs?: boolean; joins?: boolean }

export class ViewCache {
  private readonly h: NativeHandle;
  private kept: { key: string; at: number; view: NsView } | undefined;
  private stale = true;
  private closed = false;
  /** Passes served without a dump, and dumps made (tests, benchmarks). */
  readonly stats = { hits: 0, dumps: 0 };

  constructor(netns?: string, private readonly now: () => number = Date.now) {
    // A small buffer: the content of the notifications is not needed, only that there were some.
    this.h = nativeNetlink().open(0, GROUPS, netns ? netnsPath(netns) : null, 256 << 10,
      () => { this.stale = true; }, () => { this.stale = true; });
  }

  /** The view of `s`'s namespace: the kept one while nothing changed, else a dump (kept when cacheable). */
  async read(s: NetlinkSocket, what: ViewWanted, signal?: AbortSignal): Promise<NsView> {
    const cacheable = !what.fdb && !what.qdiscs && !this.closed;
    // A change made just before this read is queued on our socket already, though the loop may not have read it yet.
    if (!this.closed && nativeNetlink().pending(this.h)) this.stale = true;
    const key = `${what.addrs ? 'a' : ''}${what.routes ? 'r' : ''}${what.joins ? 'j' : ''}`;
    const k = this.kept;
    // A view with more than asked serves too (addresses and routes are only extra maps).
    const covers = k !== undefined && [...key].every((c) => k.key.includes(c));
    if (cacheable && !this.stale && covers && this.now() - k.at < RESYNC_MS) {
      this.stats.hits++;
      return k.view;
    }
    // Cleared before the dump: a notification during it marks the result stale again.
    this.stale = false;
    const at = this.now();
    const view = await readView(s, what, signal);
    this.stats.dumps++;
    if (cacheable) this.kept = { key, at, view };
    return view;
  }

  /** Something here was just changed by us: read again next time. */
  invalidate(): void {
    this.stale = true;
    this.kept = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.kept = undefined;
    nativeNetlink().close(this.h);
  }
}
