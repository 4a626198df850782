// One probed pair (this endpoint → one remote member): what was sent, what
// came back, and what that says over a window. Pure bookkeeping over times
// given to it, so it is tested without a kernel (pair.test.ts).

/** What the agent reports for one pair (and the API shows per member pair). */
export interface PairHealth {
  remote: string;
  /** The device the probes go out of. */
  device: string;
  /** undefined: not decided yet (just started, nothing answered and not yet overdue). */
  alive: boolean | undefined;
  /** Round trip less the far end's turnaround, over the window; absent without answers. */
  rttP50Ms?: number;
  rttP99Ms?: number;
  /** Probes lost over the window, 0–1 (a probe is lost once it is older than the answer timeout). */
  loss: number;
  sent: number;
  answered: number;
  /** Why it is not alive, in words. */
  reason?: string;
}

export interface PairTiming {
  /** No answer for this long: down. */
  downAfterMs: number;
  /** A pair that never answered is down only after this long (the far end may still be building). */
  startupMs: number;
  /** An unanswered probe counts as lost after this long. */
  answerTimeoutMs: number;
  /** RTT percentiles and loss over this much history. */
  windowMs: number;
}

interface Sample { at: number; seq: number; rttNs: number | undefined }

export class PairWindow {
  private readonly samples: Sample[] = [];
  private firstSent: number | undefined;
  private lastAnswer: number | undefined;
  private lastSendError: string | undefined;
  private seq = 0;

  constructor(readonly remote: string, readonly device: string, private readonly t: PairTiming) {}

  /** The next sequence number to send, recorded as sent at `now` (sendError: the send failed, in words). */
  sent(now: number, sendError?: string): number {
    this.seq = (this.seq + 1) >>> 0;
    this.firstSent ??= now;
    this.lastSendError = sendError;
    this.samples.push({ at: now, seq: this.seq, rttNs: undefined });
    this.trim(now);
    return this.seq;
  }

  /** The last send failed (in words). */
  failed(why: string): void { this.lastSendError = why; }

  /** An answer to probe `seq` that arrived at `at` (the kernel's stamp: read late, it still counts for when it came). */
  answered(at: number, seq: number, rttNs: number): void {
    // Sends are in seq order: search from the newest (an answer is usually for a recent probe).
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i]!;
      if (s.seq !== seq) continue;
      if (s.rttNs === undefined && at - s.at <= this.t.answerTimeoutMs) {
        // Back from down: the outage was reported as down; its unanswered probes are not loss of the link now up.
        // The first answer ever, likewise: probes sent while the far end was still being built (the
        // start-up grace) found no link yet, and counted as loss they made a new link DEGRADED for a window.
        if (this.alive(at) === false || this.lastAnswer === undefined) this.forgetUnansweredBefore(s.at);
        s.rttNs = Math.max(0, rttNs);
        this.lastAnswer = Math.max(this.lastAnswer ?? at, at);
      }
      return;
    }
  }

  private forgetUnansweredBefore(at: number): void {
    for (let i = this.samples.length - 1; i >= 0; i--) if (this.samples[i]!.at < at && this.samples[i]!.rttNs === undefined) this.samples.splice(i, 1);
  }

  private trim(now: number): void {
    let drop = 0;
    while (drop < this.samples.length && now - this.samples[drop]!.at > this.t.windowMs) drop++;
    if (drop) this.samples.splice(0, drop);
  }

  health(now: number, what: string): PairHealth {
    this.trim(now);
    const rtts = this.samples.filter((s) => s.rttNs !== undefined).map((s) => s.rttNs! / 1e6).sort((a, b) => a - b);
    const settled = this.samples.filter((s) => s.rttNs !== undefined || now - s.at > this.t.answerTimeoutMs);
    const lost = settled.filter((s) => s.rttNs === undefined).length;
    const out: PairHealth = {
      remote: this.remote, device: this.device, alive: this.alive(now), loss: settled.length ? lost / settled.length : 0,
      sent: this.samples.length, answered: rtts.length,
      ...(rtts.length ? { rttP50Ms: quantile(rtts, 0.5), rttP99Ms: quantile(rtts, 0.99) } : {}),
    };
    if (out.alive === false) out.reason = this.reason(what);
    return out;
  }

  /** true: answered within downAfterMs; false: overdue; undefined: not decided yet. */
  alive(now: number): boolean | undefined {
    if (this.lastAnswer !== undefined && now - this.lastAnswer <= this.t.downAfterMs) return true;
    if (this.lastAnswer !== undefined) return false;
    if (this.firstSent === undefined || now - this.firstSent <= Math.max(this.t.startupMs, this.t.downAfterMs)) return undefined;
    return false;
  }

  /** Stable while the pair stays down (it names when answers stopped, not for how long), so it is one event, not one per report. */
  private reason(what: string): string {
    const since = this.lastAnswer !== undefined ? `since ${new Date(this.lastAnswer).toISOString()}` : 'ever';
    return `no probe answer from ${this.remote} over ${what} ${since}${this.lastSendError ? ` (sending: ${this.lastSendError})` : ''}`;
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
