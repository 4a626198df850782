// Whether anything changed a namespace's nftables rule set since last asked:
// a socket subscribed to the namespace's nftables notifications
// (NFNLGRP_NFTABLES: every committed change of any table, whoever made it).
// The probe guard (guard.ts) is checked with an `nft` process, which a big
// lab's agent host cannot afford for every node every few seconds (a
// thousand nodes: a hundred processes a second); with this watch it is
// checked when the rule set changed, and rarely otherwise. The content of a
// notification is not read, only that there was one; a lost one (the
// socket's buffer overflowed) counts as a change.
import { NETLINK_NETFILTER, NFNLGRP_NFTABLES } from '../netlink/constants.js';
import { nativeNetlink, type NativeHandle } from '../netlink/native.js';
import { netnsPath } from '../netlink/socket.js';

export class NftablesWatch {
  private readonly h: NativeHandle;
  private changed = false;
  private closed = false;

  /** Throws when the namespace cannot be watched (no nfnetlink, no permission): the caller checks by time instead. */
  constructor(netns: string | undefined, private readonly onChange: () => void) {
    const seen = (): void => { this.changed = true; if (!this.closed) this.onChange(); };
    // (Not referenced: it never keeps the process alive.)
    this.h = nativeNetlink().open(NETLINK_NETFILTER, 1 << (NFNLGRP_NFTABLES - 1), netns ? netnsPath(netns) : null, 64 << 10, seen, seen);
  }

  /** Whether the rule set changed since the last call (a notification read, or one queued and not read yet). */
  take(): boolean {
    const c = this.changed || (!this.closed && nativeNetlink().pending(this.h));
    this.changed = false;
    return c;
  }

  /**
   * Forget what is queued now: after the caller's own change (its `nft`
   * process has exited, so its notifications are on the socket), once the
   * loop has read them. A foreign change in that moment is forgotten with
   * them; the caller's periodic check still finds it.
   */
  async settle(): Promise<void> {
    for (let i = 0; i < 100 && !this.closed && nativeNetlink().pending(this.h); i++) await new Promise((r) => setImmediate(r));
    this.changed = false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNetlink().close(this.h);
  }
}
