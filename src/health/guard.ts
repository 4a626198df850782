// What keeps probes out of experiments, and experiments out of probes: one
// nftables rule set in the node's namespace, in the bridge family's
// prerouting hook, dropping every frame of the probe ethertype that enters
// a visp bridge, from either side. Only frames that come in on visp's own
// ports (tunnels, experiments' veths: names.ts PORT_PREFIXES) are matched: in
// testbed mode the agent's namespace is the host's, whose other bridges are
// none of visp's business. (Matching the bridge itself, `meta ibrname`, needs
// nft_meta_bridge, which not every kernel has.)
// - From the tunnel: a probe (request or answer) arriving over a link was
//   already seen by the probe socket on the tunnel device (packet taps run
//   before the bridge's rx_handler, native/pktsock.c); dropped here, it
//   never reaches the experiment's veth, nor any other port of the bridge.
// - From the experiment: a frame of that ethertype an experimenter sends is
//   dropped as it enters the bridge, so it never leaves over the tunnel and
//   cannot pose as a probe or an answer at the far end. Tagged frames
//   (802.1Q) carrying it inside are dropped too; anything else tagged that
//   gets through is ignored by the far end's socket, whose filter takes
//   untagged frames only.
// This covers the endpoints that have a bridge (a LAN over point-to-point
// tunnels, the egress end). The others have none: their tunnel and veth are
// joined by tc redirect, and a filter of the endpoint's own, ahead of the
// redirect, keeps probes on their side in both directions
// (src/bridge/redirect.ts).
// The rule set is the node's own (the experiment's namespace has nothing of
// it, and its owner cannot change it). It stays when the agent stops:
// probes may still be in flight, and a frame of that ethertype has no
// business on a visp bridge either way.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UnavailableError } from '../errors.js';
import { PORT_PREFIXES } from '../endpoint/names.js';
import { PROBE_ETHERTYPE } from '../netlink/packet.js';

const run = promisify(execFile);

export const GUARD_TABLE = 'visp_health';
const GUARD_PORTS = [PORT_PREFIXES.tunnel, PORT_PREFIXES.vethHost];

/** The rule set, as `nft -f` takes it: replaces the chain's rules, so applying it twice changes nothing. */
export function guardRuleset(): string {
  const t = `0x${PROBE_ETHERTYPE.toString(16)}`;
  return [
    `table bridge ${GUARD_TABLE} {`,
    '  chain prerouting {',
    // Before everything else on the bridge (conntrack, a user's own rules).
    '    type filter hook prerouting priority -300; policy accept;',
    '  }',
    '}',
    `flush chain bridge ${GUARD_TABLE} prerouting`,
    ...GUARD_PORTS.flatMap((p) => [
      `add rule bridge ${GUARD_TABLE} prerouting iifname "${p}*" ether type ${t} counter drop`,
      `add rule bridge ${GUARD_TABLE} prerouting iifname "${p}*" vlan type ${t} counter drop`,
    ]),
    '',
  ].join('\n');
}

/** Installs the rule set in the node's namespace (`netns`; default ours). Without it, nothing is probed. */
export async function ensureGuard(netns?: string): Promise<void> {
  const cmd = netns ? ['ip', ['netns', 'exec', netns, 'nft', '-f', '-']] as const : ['nft', ['-f', '-']] as const;
  await new Promise<void>((resolve, reject) => {
    const child = execFile(cmd[0], [...cmd[1]], (e, _out, err) => (e ? reject(new UnavailableError(`nft (probe guard${netns ? ` in ${netns}` : ''}): ${String(err).trim() || e.message}`, { cause: e })) : resolve()));
    child.stdin?.end(guardRuleset());
  });
}

/**
 * Whether the rule set is in place as guardRuleset() writes it: both drop
 * rules in the chain. Read without touching it (applying it again would
 * reset its counters); a firewall reload (`nft flush ruleset`, as Debian's
 * nftables service does) removes it, and the prober puts it back.
 */
export async function guardPresent(netns?: string): Promise<boolean> {
  const args = ['-j', 'list', 'chain', 'bridge', GUARD_TABLE, 'prerouting'];
  let stdout: string;
  try {
    ({ stdout } = netns ? await run('ip', ['netns', 'exec', netns, 'nft', ...args]) : await run('nft', args));
  } catch {
    return false; // no such table or chain
  }
  const doc = JSON.parse(stdout) as { nftables: Array<{ rule?: { expr: Array<Record<string, unknown>> } }> };
  // Exactly its rules: a rule added before them (an accept) would let probe frames by.
  const rules = doc.nftables.filter((x) => x.rule).map((x) => x.rule!.expr);
  return rules.length === 2 * GUARD_PORTS.length && rules.every((expr) => expr.some((e) => 'drop' in e) && JSON.stringify(expr).includes(`${PROBE_ETHERTYPE}`));
}

/** Frames the guard dropped, from its counters (for the docs and tests). */
export async function guardDrops(netns?: string): Promise<number> {
  const args = ['-j', 'list', 'table', 'bridge', GUARD_TABLE];
  const { stdout } = netns ? await run('ip', ['netns', 'exec', netns, 'nft', ...args]) : await run('nft', args);
  const doc = JSON.parse(stdout) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
  return doc.nftables.flatMap((x) => x.rule?.expr ?? []).reduce((a, e) => a + (e.counter?.packets ?? 0), 0);
}
