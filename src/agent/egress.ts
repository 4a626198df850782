// The agent's BGP egress: on an egress node it owns the speaker (gobgpd,
// through EgressNode), the slices' routing tables (SliceTables) and the
// provider-route watch that feeds them. Driven by the node's desired state
// on every agent reconcile; see docs/egress.md.
//
// Lifecycle decisions:
// - The agent stopping (or restarting) leaves gobgpd running and the next
//   agent adopts it: providers see no flap. gobgpd logs to a file and runs
//   in its own session, so it survives even a SIGKILLed agent.
// - Egress removed from the node's desired state (the operator removed the
//   node's egress) stops gobgpd for good: Cease to every provider.
// - A slice's block is announced only while its data path here is in place
//   (its route and rules in the slice's table: SliceTables says which are
//   not, and why). Every reconcile puts the tables right first and then
//   tells GoBGP what to announce, so a block whose route cannot be put back
//   is withdrawn instead of drawing the Internet's traffic into nothing, and
//   announced again by the reconcile that repairs it. `notReady(slice)` says
//   why a slice's egress cannot carry traffic, for its endpoint's report.
import { join } from 'node:path';
import type { EgressDesired, EgressSliceStatus, EgressStatus } from '../bgp/desired.js';
import { EgressNode } from '../bgp/egress-node.js';
import type { EgressSpec } from '../bgp/reconcile.js';
import { SliceTables } from '../bgp/slice-tables.js';
import { watchProviderRoutes, type ProviderRouteWatch } from '../bgp/watch.js';
import type { Family } from '../ipam/prefix.js';
import { bytesToIp, ipToBytes, parseCidr } from '../netlink/codec.js';

export interface AgentEgressOptions {
  /** Names the speaker's files: <runDir>/bgp-<name>.{sock,log}. */
  name: string;
  /** The node's namespace when the agent is not running inside it. */
  netns?: string;
  runDir?: string;
  gobgpd?: string;
  log?: (line: string) => void;
}

/** How long after a (re)started watch its initial dump is taken as the complete provider table. */
const INITIAL_DUMP_MS = 1000;

/** The GoBGP side of `d`: every slice block is announced, or those `carries` says can carry traffic. */
export const toEgressSpec = (d: EgressDesired, carries: (slice: string, block: string) => boolean = () => true): EgressSpec => ({
  asn: d.asn, routerId: d.routerId, providers: d.providers, maxLength: d.maxLength,
  announcements: d.slices.flatMap((s) => s.blocks.filter((b) => carries(s.slice, b)).map((b) => ({ prefix: b, allowed: b }))),
});

export class AgentEgress {
  private readonly opts: AgentEgressOptions;
  private node: EgressNode | undefined;
  private tables: SliceTables | undefined;
  private watch: ProviderRouteWatch | undefined;
  private desired: EgressDesired | undefined;
  private error: string | undefined;

  constructor(opts: AgentEgressOptions) { this.opts = opts; }

  get apiSocket(): string { return join(this.opts.runDir ?? '/run/visp', `bgp-${this.opts.name}.sock`); }

  /** Converge to `d` (undefined: no egress on this node). Returns the steps taken, in words. */
  async apply(d: EgressDesired | undefined): Promise<string[]> {
    this.desired = d;
    try {
      const steps = d ? await this.up(d) : await this.down();
      this.error = undefined;
      return steps;
    } catch (e) {
      this.error = (e as Error).message;
      throw e;
    }
  }

  private async up(d: EgressDesired): Promise<string[]> {
    const steps: string[] = [];
    if (this.node && (this.node.spec.asn !== d.asn || this.node.spec.routerId !== d.routerId)) {
      // A new identity is a new speaker: the providers see it go and come back.
      steps.push(`bgp: AS${this.node.spec.asn} ${this.node.spec.routerId} → AS${d.asn} ${d.routerId}: restarting the speaker`);
      this.closeWatch();
      await this.node.stop();
      this.node = undefined;
    }
    // A block no longer desired (Delete, Shutdown, expiry) is withdrawn
    // before its route and rules go: the providers stop sending its traffic
    // first, and no table reconcile stands between the verb and the withdrawal.
    const desiredBlocks = new Set(d.slices.flatMap((s) => s.blocks));
    if (this.node?.spec.announcements.some((a) => !desiredBlocks.has(a.prefix))) {
      steps.push(...await this.node.apply({ ...this.node.spec, announcements: this.node.spec.announcements.filter((a) => desiredBlocks.has(a.prefix)) }));
    }
    // The tables next: the speaker's watch feeds them as soon as it starts,
    // and what is announced depends on what of them is in place.
    this.tables ??= new SliceTables({ ...(this.opts.netns ? { netns: this.opts.netns } : {}), ...(this.opts.log ? { log: this.opts.log } : {}) });
    steps.push(...await this.tables.setDesired(d.slices));
    const missing = new Set((this.tables.status()).flatMap((t) => t.blocksMissing.map((b) => `${t.slice} ${b.prefix}`)));
    const spec = toEgressSpec(d, (slice, block) => !missing.has(`${slice} ${canonPrefix(block)}`));
    if (!this.node) {
      const node = new EgressNode({
        spec, apiSocket: this.apiSocket, adopt: true, listenPort: -1,
        logFile: join(this.opts.runDir ?? '/run/visp', `bgp-${this.opts.name}.log`),
        ...(this.opts.netns ? { netns: this.opts.netns } : {}), ...(this.opts.gobgpd ? { gobgpd: this.opts.gobgpd } : {}),
        // After every reconcile, including those after a (re)start or
        // adoption of gobgpd: make sure its best paths are watched.
        onApplied: () => this.ensureWatch(),
      });
      this.node = node;
      try { await node.start(); } catch (e) { this.node = undefined; await node.stop().catch(() => undefined); throw e; }
      steps.push(`bgp: speaker AS${d.asn} router id ${d.routerId} running (gobgpd pid ${node.speaker.pid ?? '?'})`);
    } else {
      steps.push(...await this.node.apply(spec));
    }
    return steps;
  }

  private async down(): Promise<string[]> {
    const steps: string[] = [];
    if (this.node) {
      this.closeWatch();
      await this.node.stop();
      this.node = undefined;
      steps.push('bgp: egress removed from this node: speaker stopped (Cease sent to every provider)');
    }
    if (this.tables) {
      steps.push(...await this.tables.setDesired([]));
      this.tables.close();
      this.tables = undefined;
    }
    return steps;
  }

  private ensureWatch(): void {
    const node = this.node;
    if (this.watch || !node) return;
    let w: ProviderRouteWatch | undefined;
    try {
      w = watchProviderRoutes(node.speaker.client, (ch) => this.tables?.onProviderRoute(ch), (err) => {
        if (this.watch === w) this.watch = undefined;
        if (err) this.opts.log?.(`bgp: provider route watch ended: ${err.message}`);
      });
    } catch (e) {
      this.opts.log?.(`bgp: cannot watch provider routes: ${(e as Error).message}`);
      return;
    }
    this.watch = w;
    // The stream starts with the current best paths; once they are in, what
    // the watch holds is the whole table, and routes not in it can go.
    setTimeout(() => {
      if (this.watch === w && this.tables) this.tables.replaceProviderRoutes(w.routes.values()).catch((e: Error) => this.opts.log?.(`bgp: provider routes: ${e.message}`));
    }, INITIAL_DUMP_MS).unref();
  }

  private closeWatch(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  /** The node's egress as the last reconcile left it (no GoBGP call of its own). */
  status(): EgressStatus | undefined {
    const d = this.desired;
    if (!d) return undefined;
    const node = this.node;
    const pid = node?.speaker.pid;
    // What this cycle's reconcile read and did: no second round of GoBGP calls.
    const seen = pid !== undefined ? node?.observed : undefined;
    const peers = seen?.sessions ?? [];
    const local = seen?.announced ?? new Set<string>();
    const tables = new Map((this.tables?.status() ?? []).map((t) => [t.slice, t]));
    const slices: EgressSliceStatus[] = d.slices.map((s) => ({
      slice: s.slice, table: s.table, announced: s.blocks.filter((b) => local.has(b)), routesInstalled: tables.get(s.slice)?.routesInstalled ?? 0,
    }));
    return { enabled: true, running: pid !== undefined, ...(this.error ? { error: this.error } : {}), ...(pid !== undefined ? { pid } : {}), peers, slices };
  }

  /**
   * Why `slice`'s egress on this node cannot carry traffic now, in words
   * (undefined: it can, or the slice has no egress here): what the last
   * reconcile left not in place. For the report of the slice's egress-link
   * endpoint on this node, which is not ready meanwhile.
   */
  notReady(slice: string): string | undefined {
    const d = this.desired;
    const s = d?.slices.find((x) => x.slice === slice);
    if (!d || !s) return undefined;
    if (this.error) return `egress: ${this.error}`;
    const node = this.node;
    if (node?.speaker.pid === undefined) return 'egress: the BGP speaker (gobgpd) is not running';
    const why: string[] = [];
    const t = this.tables?.status().find((x) => x.slice === slice);
    const missing = new Map((t?.blocksMissing ?? []).map((b) => [b.prefix, b.reason]));
    const announced = node.observed?.announced ?? new Set<string>();
    for (const b of s.blocks) {
      const reason = missing.get(canonPrefix(b));
      if (reason !== undefined) why.push(`${b} withdrawn: ${reason}`);
      else if (!announced.has(b) && !announced.has(canonPrefix(b))) why.push(`${b} is not announced`);
    }
    // Announced, but heard by no provider: no way in from the Internet.
    const sessions = node.observed?.sessions ?? [];
    for (const fam of new Set(s.blocks.map((b) => (b.includes(':') ? 'ipv6' : 'ipv4') as Family))) {
      const up = d.providers.some((p) => p.families.includes(fam) && sessions.some((x) => sameAddress(x.address, p.address) && x.state === 'established'));
      if (!up) why.push(`no ${fam} session with a provider is established`);
    }
    return why.length ? `egress: ${why.join('; ')}` : undefined;
  }

  /** Let go without stopping gobgpd (agent shutdown or restart: the next agent adopts it). */
  close(): void {
    this.closeWatch();
    this.node?.detach();
    this.node = undefined;
    this.tables?.close();
    this.tables = undefined;
  }
}

const canonPrefix = (cidr: string): string => { const c = parseCidr(cidr); return `${c.address}/${c.prefixlen}`; };
const sameAddress = (a: string, b: string): boolean => { try { return bytesToIp(ipToBytes(a)) === bytesToIp(ipToBytes(b)); } catch { return a === b; } };
