// A node's link-health prober: for every ready endpoint of a kind that can
// be probed (its driver's `healthProbe`), one probe socket per node-side
// tunnel device, a request per remote member every interval, the answers'
// round trips kept per pair (pair.ts). Probes go out of the tunnel device
// itself, so they take the encapsulation experiment traffic takes (the
// key/VNI, the underlay route, the far end's device); they are answered by
// the far end's socket on its device (native/pktsock.c) and never reach a
// bridge (guard.ts). It emits `change` when a pair is found dead or alive
// again, so the agent reports at once rather than at its next pass.
import { EventEmitter } from 'node:events';
import type { LinkWatcher } from '../netlink/events.js';
import { linkList } from '../netlink/link.js';
import { ProbeSocket, requestFrame, setSeq, type ProbeAnswer } from '../netlink/packet.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { ensureGuard, guardPresent } from './guard.js';
import { NftablesWatch } from './guard-watch.js';
import { PairWindow, type PairHealth, type PairTiming } from './pair.js';
import { verdict, type HealthVerdict } from './summary.js';

export interface HealthOptions extends PairTiming {
  /** A request to every remote member of every probed endpoint this often. */
  intervalMs: number;
  /** An endpoint whose every member answers but loses this share of probes (0–1) is degraded. */
  degradedLoss: number;
}

/**
 * Detection takes down_after plus at most one interval and a report (about
 * 1.5–2 s); the cost is linear in the rate, and at this one it is about 0.06
 * of a core per 1,000 endpoints (bench/health.ts), nearly all of it the
 * kernel sending and receiving the frames.
 */
export const DEFAULT_HEALTH: Readonly<HealthOptions> = {
  intervalMs: 400, downAfterMs: 1500, startupMs: 5000, answerTimeoutMs: 1000, windowMs: 10_000, degradedLoss: 0.2,
};

/** One endpoint to probe: which link, from which underlay address, to whom, out of which device. */
export interface ProbeTarget {
  /** "<slice>/<link>". */
  key: string;
  local: string;
  /** "vxlan VNI 42": how the pair's reason names the path. */
  what: string;
  pairs: Array<{ remote: string; device: string }>;
  /**
   * The loss this endpoint's own link properties ask for (0–1; docs/links.md):
   * probes leave through its shaper too. Loss up to that much more than
   * degradedLoss is what was asked for; at 1 (the link is down on purpose,
   * "without saying so") health passes no verdict at all.
   */
  configuredLoss?: number;
}

/**
 * How often the guard is checked when its namespace's nftables changes
 * cannot be watched (guard-watch.ts): frames of the probe ethertype could
 * cross a link for at most this long (plus a pass) after someone removed it.
 */
export const GUARD_CHECK_MS = 10_000;
/**
 * How often it is checked while they are watched: a change is checked at
 * once; this only catches what a notification could not say.
 */
export const GUARD_RESYNC_MS = 600_000;

export interface EndpointHealth { pairs: PairHealth[]; verdict?: HealthVerdict }

interface Pair { id: number; target: ProbeTarget; window: PairWindow; frame: Buffer; device: string; alive: boolean | undefined }
interface Sock { ifindex: number; local: string; socket: ProbeSocket }

export class HealthProber extends EventEmitter<{ change: []; error: [Error] }> {
  readonly opts: HealthOptions;
  private readonly netns: string | undefined;
  private readonly pairs = new Map<number, Pair>();
  private readonly byKey = new Map<string, Pair[]>();
  private readonly sockets = new Map<string, Sock>();
  private nl: NetlinkSocket | undefined;
  /** The agent's watcher of the namespace's links, when it has one (the devices without a dump per pass). */
  private readonly links: (() => LinkWatcher | undefined) | undefined;
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  /** When the guard was last put in place or found in place (undefined: never). */
  private guardedAt: number | undefined;
  private readonly guardCheckMs: number | undefined;
  /** The namespace's nftables changes (undefined: not watched, or not yet: checked by time). */
  private watch: NftablesWatch | undefined;
  /** Guard checks and repairs one at a time (a pass's and a change's). */
  private guardTail: Promise<void> = Promise.resolve();
  private guardSoon: NodeJS.Timeout | undefined;
  /** Checks of the guard (an nft process each) and installs, for tests and benchmarks. */
  readonly guardStats = { checks: 0, installs: 0 };
  private lastTick: number | undefined;
  private closed = false;

  /** `guardCheckMs`: how often a pass checks that the guard is still in place (default GUARD_RESYNC_MS while nftables changes are watched, else GUARD_CHECK_MS). */
  constructor(opts: { netns?: string; health?: Partial<HealthOptions>; guardCheckMs?: number; links?: () => LinkWatcher | undefined } = {}) {
    super();
    this.netns = opts.netns;
    this.links = opts.links;
    this.guardCheckMs = opts.guardCheckMs;
    this.opts = { ...DEFAULT_HEALTH, ...opts.health };
  }

  /**
   * The endpoints to probe now (every other one stops being probed). Opens
   * sockets for new devices and for devices that were recreated (a new
   * ifindex), closes the rest. Called after every reconcile pass.
   */
  async setTargets(targets: readonly ProbeTarget[]): Promise<void> {
    if (this.closed) return;
    if (targets.length) await this.guard();
    const wantDevices = new Map<string, string>();
    for (const t of targets) for (const p of t.pairs) wantDevices.set(p.device, t.local);
    const index = await this.linkIndex(wantDevices.keys());
    for (const [dev, s] of this.sockets) {
      if (wantDevices.get(dev) !== s.local || index.get(dev) !== s.ifindex) { s.socket.close(); this.sockets.delete(dev); }
    }
    for (const [dev, local] of wantDevices) {
      const ifindex = index.get(dev);
      if (ifindex === undefined || this.sockets.has(dev)) continue;
      try {
        this.sockets.set(dev, { ifindex, local, socket: new ProbeSocket({ ...(this.netns ? { netns: this.netns } : {}), ifindex, local, onAnswers: (a) => this.onAnswers(dev, a) }) });
      } catch (e) {
        this.emit('error', new Error(`probe socket on ${dev}: ${(e as Error).message}`));
      }
    }
    // Pairs: kept (with their history) while the same target names the same remote over the same device.
    const want = new Map(targets.map((t) => [t.key, t]));
    for (const [key, ps] of this.byKey) {
      const t = want.get(key);
      const keep = ps.filter((p) => t && p.target.local === t.local && t.pairs.some((x) => x.remote === p.window.remote && x.device === p.device));
      for (const p of ps) if (!keep.includes(p)) this.pairs.delete(p.id);
      if (keep.length) this.byKey.set(key, keep); else this.byKey.delete(key);
    }
    for (const t of targets) {
      const have = this.byKey.get(t.key) ?? [];
      for (const x of t.pairs) {
        const existing = have.find((p) => p.window.remote === x.remote && p.device === x.device);
        if (existing) { existing.target = t; continue; }
        const id = this.nextId++;
        const p: Pair = { id, target: t, window: new PairWindow(x.remote, x.device, this.opts), frame: requestFrame(t.local, x.remote, id), device: x.device, alive: undefined };
        this.pairs.set(id, p);
        have.push(p);
      }
      if (have.length) this.byKey.set(t.key, have);
    }
    this.timer ??= setInterval(() => this.tick(), this.opts.intervalMs).unref();
  }

  /**
   * The namespace's devices by name: from the agent's link watcher while it
   * is current and knows every device wanted (a pass over an unchanged node
   * then costs no dump), else a dump (a device just built, its notification
   * not read yet).
   */
  private async linkIndex(want: Iterable<string>): Promise<Map<string, number>> {
    const w = this.links?.();
    if (w?.current()) {
      const index = new Map<string, number>();
      for (const l of w.links.values()) index.set(l.name, l.index);
      if ([...want].every((d) => index.has(d))) return index;
    }
    this.nl ??= new NetlinkSocket(this.netns ? { netns: this.netns } : {});
    return new Map((await linkList(this.nl)).map((l) => [l.name, l.index]));
  }

  /** The endpoint's pairs and what they say, or undefined when it is not probed. */
  health(key: string, now = Date.now()): EndpointHealth | undefined {
    const ps = this.byKey.get(key);
    if (!ps) return undefined;
    const pairs = ps.map((p) => p.window.health(now, p.target.what));
    const asked = ps[0]!.target.configuredLoss ?? 0;
    const v = asked >= 1 ? undefined : verdict(pairs, Math.min(1, this.opts.degradedLoss + asked));
    return { pairs, ...(v ? { verdict: v } : {}) };
  }

  /** Pairs probed and requests answered for the far ends (for the cost figures). */
  counts(): { pairs: number; sockets: number; answered: number } {
    let answered = 0;
    for (const s of this.sockets.values()) answered += s.socket.answered();
    return { pairs: this.pairs.size, sockets: this.sockets.size, answered };
  }

  /** Each probed device and the ifindex its socket is on (tests). */
  probedDevices(): Map<string, number> {
    return new Map([...this.sockets].map(([dev, s]) => [dev, s.ifindex]));
  }

  /** Link dumps made (a pass whose devices the link watcher knew makes none; tests). */
  get dumps(): number { return this.nl?.stats.messages ?? 0; }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.guardSoon) clearTimeout(this.guardSoon);
    this.watch?.close();
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
    this.nl?.close();
  }

  /**
   * The guard in place: put there on the first pass with targets, and
   * checked again (a process each time, so not every pass) when the
   * namespace's nftables rule set changed, and every guardCheckMs in any
   * case: drift, such as a firewall reload that flushed it, is repaired and
   * reported, and probes stay out of experiments for longer than the first
   * pass. A change is checked soon after it is seen, not at the next pass.
   */
  private guard(): Promise<void> {
    const p = this.guardTail.then(() => this.guardOnce());
    this.guardTail = p.catch(() => undefined);
    return p;
  }

  private async guardOnce(): Promise<void> {
    if (this.closed) return;
    if (this.guardedAt === undefined && !this.watch) {
      // Watching from before the guard is put in place: a change after that is seen.
      try { this.watch = new NftablesWatch(this.netns, () => this.checkSoon()); } catch { /* checked by time only */ }
    }
    const now = Date.now();
    const changed = this.watch?.take() ?? false;
    const every = this.guardCheckMs ?? (this.watch ? GUARD_RESYNC_MS : GUARD_CHECK_MS);
    if (this.guardedAt !== undefined && !changed && now - this.guardedAt < every) return;
    if (this.guardedAt !== undefined) {
      this.guardStats.checks++;
      if (await guardPresent(this.netns)) { this.guardedAt = now; return; }
    }
    this.guardStats.installs++;
    await ensureGuard(this.netns);
    // Our own change's notifications are not a change to check.
    await this.watch?.settle();
    if (this.guardedAt !== undefined) this.emit('error', new Error(`the probe guard (nft table bridge visp_health${this.netns ? ` in ${this.netns}` : ''}) was gone or changed; put back`));
    this.guardedAt = now;
  }

  /** The rule set changed: check the guard shortly (a burst of notifications is one check), once it was ever put in place. */
  private checkSoon(): void {
    if (this.closed || this.guardedAt === undefined || this.guardSoon) return;
    this.guardSoon = setTimeout(() => {
      this.guardSoon = undefined;
      this.guard().catch((e: Error) => this.emit('error', e));
    }, 100).unref();
  }

  private tick(): void {
    const now = Date.now();
    // After a stall of the event loop (this tick is late), answers that came meanwhile are still unread:
    // the poll phase reads them after this timer. Send, but judge at the next tick, so a busy agent does
    // not call its links down.
    const late = this.lastTick !== undefined && now - this.lastTick > 2 * this.opts.intervalMs;
    this.lastTick = now;
    let changed = false;
    for (const p of this.pairs.values()) {
      const s = this.sockets.get(p.device);
      if (!s) p.window.sent(now, `device ${p.device} not found`);
      else {
        setSeq(p.frame, p.window.sent(now));
        const r = s.socket.send(p.frame);
        if (r < 0) p.window.failed(`device ${p.device}: ${errnoName(-r)}`);
      }
      if (late) continue;
      const alive = p.window.alive(now);
      if (alive !== undefined && alive !== p.alive) changed = true;
      p.alive = alive;
    }
    if (changed) this.emit('change');
  }

  /** Answers read on `device`'s socket: each counts only for a pair probed over that device (pair ids are small and sequential, so anyone who can put a frame on another link could otherwise answer for this one). */
  private onAnswers(device: string, answers: ProbeAnswer[]): void {
    let changed = false;
    for (const a of answers) {
      const p = this.pairs.get(a.id);
      if (!p || p.device !== device) continue;
      p.window.answered(a.atMs, a.seq, a.rttNs);
      if (p.alive === false) { p.alive = true; changed = true; }
    }
    if (changed) this.emit('change');
  }
}

const ERRNO: Record<number, string> = { 6: 'ENXIO', 19: 'ENODEV', 100: 'ENETDOWN', 105: 'ENOBUFS', 11: 'EAGAIN' };
const errnoName = (n: number): string => ERRNO[n] ?? `errno ${n}`;
