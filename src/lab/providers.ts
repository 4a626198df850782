// Lab mode's stand-ins for the Internet: each provider of an egress node is
// a namespace running BIRD 2 (Debian's bird2) with its own ASN, cabled to
// the egress node's namespace by a veth pair. It announces a default route
// and one host address of its own (the "Internet host" an experiment can
// ping), and puts what it learns from us into its kernel so replies find the
// slice. Addresses: provider k (1, 2, …) gets 198.19.254.(4k-4)/30 and
// 2001:db8:fffe:k::/64 on its link (egress side .1/::1) and the host
// 198.19.253.k / 2001:db8:fffd::k: benchmarking and documentation ranges, at
// the top of the underlay's /15, far from the node addresses at its bottom.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UnavailableError } from '../errors.js';
import { netnsCreate } from '../netlink/netns.js';
import type { LabEgressNode } from '../topology/types.js';
import { spawnDetached } from './processes.js';

const run = promisify(execFile);

export interface LabProvider {
  name: string;
  asn: number;
  /** The egress node it is cabled to, and our ASN there. */
  egressNode: string;
  egressAsn: number;
  netns: string;
  /** Our side (in the egress node's namespace) and theirs, without prefix lengths. */
  ours: { ipv4: string; ipv6: string; dev: string };
  theirs: { ipv4: string; ipv6: string };
  /** The provider's host address (on its loopback), announced to us. */
  host: { ipv4: string; ipv6: string };
  config: string;
  control: string;
  pid?: number;
}

/** Most providers a lab can emulate (their /30s fill 198.19.254.0/24). */
export const MAX_PROVIDERS = 64;

export function providerPlan(lab: string, dir: string, egress: readonly LabEgressNode[], nodeNetns: (node: string) => string): LabProvider[] {
  const all = egress.flatMap((e) => e.providers.map((p) => ({ e, p })));
  if (all.length > MAX_PROVIDERS) throw new UnavailableError(`lab: ${all.length} providers; at most ${MAX_PROVIDERS} fit in 198.19.254.0/24`);
  return all.map(({ e, p }, i) => {
    const k = i + 1;
    return {
      name: p.name, asn: p.asn, egressNode: e.node, egressAsn: e.asn, netns: `${nodeNetns(e.node)}-${p.name}`.slice(0, 200),
      ours: { ipv4: `198.19.254.${4 * k - 3}`, ipv6: `2001:db8:fffe:${k.toString(16)}::1`, dev: `isp${k}` },
      theirs: { ipv4: `198.19.254.${4 * k - 2}`, ipv6: `2001:db8:fffe:${k.toString(16)}::2` },
      host: { ipv4: `198.19.253.${k}`, ipv6: `2001:db8:fffd::${k.toString(16)}` },
      config: join(dir, `bird-${p.name}.conf`), control: join(dir, `bird-${p.name}.ctl`),
    };
  });
}

/** BIRD 2's configuration for one provider. */
export function birdConfig(p: LabProvider): string {
  return `# visp lab: provider ${p.name} (AS${p.asn}) of egress node ${p.egressNode}
router id ${p.theirs.ipv4};
timeformat route iso long;
log stderr all;
protocol device {}
protocol direct { ipv4; ipv6; interface "lo"; }
protocol static default4 { ipv4; route 0.0.0.0/0 blackhole; }
protocol static default6 { ipv6; route ::/0 blackhole; }
# What we learn from the egress node goes into this namespace's kernel, so
# replies to the slice's addresses find their way back.
protocol kernel { ipv4 { export where source = RTS_BGP; }; }
protocol kernel { ipv6 { export where source = RTS_BGP; }; }
template bgp visp { local as ${p.asn}; connect retry time 1; error wait time 1, 2; hold time 9; }
protocol bgp egress4 from visp {
  local ${p.theirs.ipv4} as ${p.asn};
  neighbor ${p.ours.ipv4} as ${p.egressAsn};
  ipv4 { import all; export where proto = "default4" || (proto = "direct1" && net.len = 32); };
}
protocol bgp egress6 from visp {
  local ${p.theirs.ipv6} as ${p.asn};
  neighbor ${p.ours.ipv6} as ${p.egressAsn};
  ipv6 { import all; export where proto = "default6" || (proto = "direct1" && net.len = 128); };
}
`;
}

const ip = (...args: string[]): Promise<unknown> => run('ip', args);

/** Namespace, cable, addresses, BIRD. `created` is told each namespace before it exists (for cleanup). */
export async function startProvider(p: LabProvider, egressNetns: string, logFile: string, created: (ns: string) => void): Promise<number> {
  created(p.netns);
  // In-process, as `ip netns add`, lo up; exclusive as that is.
  if (!await netnsCreate(p.netns, { loopbackUp: true })) throw new UnavailableError(`netns add ${p.netns}: a namespace of that name exists already`);
  await ip('-n', egressNetns, 'link', 'add', p.ours.dev, 'type', 'veth', 'peer', 'name', 'up0', 'netns', p.netns);
  for (const [ns, dev, a] of [[egressNetns, p.ours.dev, p.ours], [p.netns, 'up0', p.theirs]] as const) {
    await ip('-n', ns, 'addr', 'add', `${a.ipv4}/30`, 'dev', dev);
    await ip('-n', ns, '-6', 'addr', 'add', `${a.ipv6}/64`, 'dev', dev, 'nodad');
    await ip('-n', ns, 'link', 'set', dev, 'up');
  }
  await ip('-n', p.netns, 'addr', 'add', `${p.host.ipv4}/32`, 'dev', 'lo');
  await ip('-n', p.netns, '-6', 'addr', 'add', `${p.host.ipv6}/128`, 'dev', 'lo');
  writeFileSync(p.config, birdConfig(p), { mode: 0o600 });
  return spawnDetached(['ip', 'netns', 'exec', p.netns, 'bird', '-f', '-c', p.config, '-s', p.control], logFile);
}

/** What marks a provider's BIRD as ours (see isOurs). */
export const birdMark = (p: LabProvider): string[] => ['bird', '-f', '-c', p.config];
