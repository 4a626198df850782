// What an egress node's agent owns: one Speaker and the node's desired
// egress state, with every reconcile (a new desired state, a gobgpd
// (re)start) run one at a time through one queue.
import { IncompatibleStateError } from '../errors.js';
import { reconcileEgressObserved, resolveEgress, type EgressObserved, type EgressSpec } from './reconcile.js';
import { Speaker, type SpeakerOptions } from './speaker.js';

export interface EgressNodeOptions extends Omit<SpeakerOptions, 'asn' | 'routerId' | 'onReady'> {
  spec: EgressSpec;
  /** Called after every reconcile that ran, with its steps ([] = nothing to do). */
  onApplied?: (steps: string[]) => void;
}

export class EgressNode {
  readonly speaker: Speaker;
  private desired: EgressSpec;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly onApplied: ((steps: string[]) => void) | undefined;

  constructor(opts: EgressNodeOptions) {
    const { spec, onApplied, ...speakerOpts } = opts;
    resolveEgress(spec);
    this.desired = spec;
    this.onApplied = onApplied;
    this.speaker = new Speaker({
      ...speakerOpts, asn: spec.asn, routerId: spec.routerId,
      // After every (re)start or adoption: converge to the current desired state.
      onReady: async () => { await this.reconcile(); },
    });
  }

  get spec(): EgressSpec { return this.desired; }

  /** What the last reconcile saw of GoBGP (sessions, our announcements); undefined before the first. */
  observed: EgressObserved | undefined;

  start(): Promise<void> { return this.speaker.start(); }

  /**
   * Replace the desired state and reconcile; resolves with the steps taken.
   * An invalid spec is refused before anything is queued. Our ASN and router
   * id are the speaker's identity: changing them needs a new speaker.
   */
  async apply(spec: EgressSpec): Promise<string[]> {
    resolveEgress(spec);
    if (spec.asn !== this.desired.asn || spec.routerId !== this.desired.routerId) {
      throw new IncompatibleStateError(`egress: ASN/router id change (AS${this.desired.asn} ${this.desired.routerId} → AS${spec.asn} ${spec.routerId}) needs a new speaker`);
    }
    this.desired = spec;
    return this.reconcile();
  }

  /** Reconcile GoBGP against the current desired state (queued). */
  reconcile(): Promise<string[]> {
    const run = this.queue.then(async () => {
      const { steps, observed } = await reconcileEgressObserved(this.speaker.client, this.desired);
      this.observed = observed;
      this.onApplied?.(steps);
      return steps;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  stop(): Promise<void> { return this.speaker.stop(); }
  detach(): void { this.speaker.detach(); }
}
