// What the speaker reports to the operator about a session: its state, since
// when, its prefix counts (read from the ListPeer answer reconcile reads anyway).
import type { BgpPeerStatus } from './desired.js';
import type { Peer__Output } from './gen/apipb/Peer.js';

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
