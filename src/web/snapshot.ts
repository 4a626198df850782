// What the page shows at one moment: every slice (its state and its picture,
// drawn here so the browser only inserts it) and every tunnel with its
// counters, from the controller's own ListSlices and ListTunnels data. Pure.
import type { TunnelView } from '../controller/controller.js';
import type { Manifest } from '../controller/model.js';
import { graphFromManifest, linkRtts, type LinkRtt } from '../graph/view.js';
import { renderSvg } from '../graph/svg.js';

export interface PageSlice {
  slice: string;
  allocation: string;
  state: string;
  routers: number;
  links: number;
  failed: number;
  svg: string;
}

export interface PageTunnel {
  sliver: string; slice: string; link: string; node: string; kind: string; dataplane: string; key: number;
  local: string; remotes: string[]; state: string; error: string;
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
}

export interface PageState { slices: PageSlice[]; tunnels: PageTunnel[] }

/**
 * Pictures drawn before, by slice, with the view they were drawn from: the
 * state is re-read every few seconds for the counters, and a picture only
 * changes with a slice's states, so most reads redraw nothing.
 */
export type PictureCache = Map<string, { view: string; svg: string }>;

/** `rtt`: per slice, per link (default: from the tunnels' health, where their links are probed). */
export function pageState(
  manifests: readonly Manifest[], tunnels: readonly TunnelView[],
  o: { rtt?: (slice: string) => ReadonlyMap<string, LinkRtt> | undefined; cache?: PictureCache } = {},
): PageState {
  const cache = o.cache ?? new Map();
  const rtt = o.rtt ?? ((slice: string) => linkRtts(tunnels.filter((t) => t.slice === slice).map((t) => ({ link: t.link, pairs: t.health ?? [] }))));
  for (const slice of [...cache.keys()]) if (!manifests.some((m) => m.slice === slice)) cache.delete(slice);
  return {
    slices: manifests.map((m) => {
      const view = graphFromManifest(m, rtt(m.slice));
      const key = JSON.stringify(view);
      let hit = cache.get(m.slice);
      if (hit?.view !== key) cache.set(m.slice, hit = { view: key, svg: renderSvg(view) });
      return {
        slice: m.slice, allocation: m.allocation, state: m.state, routers: view.routers.length, links: view.links.length,
        failed: m.slivers.filter((s) => s.state === 'failed').length, svg: hit.svg,
      };
    }),
    tunnels: tunnels.map((t) => ({
      sliver: `${t.slice}/${t.link}`, slice: t.slice, link: t.link, node: t.node, kind: t.kind, dataplane: t.dataplane ?? '', key: t.key,
      local: t.local, remotes: t.remotes, state: t.state, error: t.error ?? '',
      rxPackets: t.rxPackets, txPackets: t.txPackets, rxBytes: t.rxBytes, txBytes: t.txBytes,
    })),
  };
}
