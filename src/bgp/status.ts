// What the speaker reports to the operator: its sessions (state, since when,
// prefix counts) and the prefixes it originates.
import type { BgpPeerStatus } from './desired.js';
import type { Peer__Output } from './gen/apipb/Peer.js';
import { collect, type GobgpApiClient } from './gobgp-client.js';
import { isLocal, nlriPrefix } from './paths.js';

const FAMILY = { ipv4: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' }, ipv6: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' } } as const;

function tsMs(t: { seconds: number | string; nanos: number } | null | undefined): number {
  const s = Number(t?.seconds ?? 0);
  return s > 0 ? s * 1000 + Math.floor((t?.nanos ?? 0) / 1e6) : 0;
}

export function peerStatus(p: Peer__Output): BgpPeerStatus {
  const state = (p.state?.sessionState ?? 'UNKNOWN').toLowerCase();
  const t = p.timers?.state;
  const afi = p.afiSafis.map((a) => a.state).filter((s): s is NonNullable<typeof s> => !!s);
  const sum = (k: 'received' | 'accepted' | 'advertised'): number => afi.reduce((n, s) => n + Number(s[k] ?? 0), 0);
  return {
    address: p.state?.neighborAddress || p.conf?.neighborAddress || '',
    asn: p.state?.peerAsn || p.conf?.peerAsn || 0,
    state,
    // Uptime counts from the last Established; downtime from the last drop.
    since: state === 'established' ? tsMs(t?.uptime) : tsMs(t?.downtime),
    received: sum('received'), accepted: sum('accepted'), advertised: sum('advertised'),
  };
}

export async function listPeerStatus(c: GobgpApiClient): Promise<BgpPeerStatus[]> {
  const rs = await collect(c, 'ListPeer', c.listPeer, { enableAdvertised: true });
  return rs.flatMap((r) => (r.peer ? [peerStatus(r.peer)] : [])).sort((a, b) => a.address.localeCompare(b.address));
}

/** Prefixes we originate (our own paths in the global RIB). */
export async function localPrefixes(c: GobgpApiClient): Promise<Set<string>> {
  const out = new Set<string>();
  for (const fam of ['ipv4', 'ipv6'] as const) {
    for (const r of await collect(c, 'ListPath', c.listPath, { tableType: 'GLOBAL', family: FAMILY[fam] })) {
      for (const p of r.destination?.paths ?? []) {
        const pfx = nlriPrefix(p);
        if (pfx && isLocal(p)) out.add(pfx);
      }
    }
  }
  return out;
}
