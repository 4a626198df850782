// Provider routes as GoBGP selects them: WatchEvent on the best-path table
// (with init: the current best paths first, then every change). Keeps a map
// prefix → best route learned from a provider; our own announcements are not
// provider routes and are skipped. This is the input for installing provider
// routes into a slice's routing table (not built yet: see docs/egress.md).
import type * as grpc from '@grpc/grpc-js';
import type { Path__Output } from './gen/apipb/Path.js';
import type { WatchEventResponse__Output } from './gen/apipb/WatchEventResponse.js';
import type { GobgpApiClient } from './gobgp-client.js';
import { asPathOf, isLocal, nextHopOf, nlriPrefix } from './paths.js';

export interface ProviderRoute {
  prefix: string;
  /** The provider it was learned from. */
  neighbor: string;
  nextHop: string;
  asPath: number[];
}

export type RouteChange = { type: 'set'; route: ProviderRoute } | { type: 'delete'; prefix: string };

export interface ProviderRouteWatch {
  /** Current best provider route per prefix. */
  readonly routes: ReadonlyMap<string, ProviderRoute>;
  /** Ends the stream. */
  close(): void;
}

/** Apply one best-path update to `routes`; returns the change, if any. */
export function applyBestPath(routes: Map<string, ProviderRoute>, p: Path__Output): RouteChange | undefined {
  const prefix = nlriPrefix(p);
  if (!prefix) return undefined;
  if (p.isWithdraw || isLocal(p)) {
    // A withdrawal, or our own path became best: no provider route for it now.
    return routes.delete(prefix) ? { type: 'delete', prefix } : undefined;
  }
  const route: ProviderRoute = { prefix, neighbor: p.neighborIp, nextHop: nextHopOf(p) ?? '', asPath: asPathOf(p) };
  routes.set(prefix, route);
  return { type: 'set', route };
}

/**
 * Watch GoBGP's best paths. `onChange` sees every change; `onEnd` is called
 * once when the stream ends or fails (gobgpd gone): the caller re-watches
 * after the speaker restarted it.
 */
export function watchProviderRoutes(c: GobgpApiClient, onChange?: (ch: RouteChange) => void, onEnd?: (err?: Error) => void): ProviderRouteWatch {
  const routes = new Map<string, ProviderRoute>();
  const stream: grpc.ClientReadableStream<WatchEventResponse__Output> = c.watchEvent({ table: { filters: [{ type: 'BEST', init: true }] } });
  let ended = false;
  const end = (err?: Error): void => { if (!ended) { ended = true; onEnd?.(err); } };
  stream.on('data', (ev: WatchEventResponse__Output) => {
    for (const p of ev.table?.paths ?? []) {
      const ch = applyBestPath(routes, p);
      if (ch) onChange?.(ch);
    }
  });
  stream.on('error', (err: grpc.ServiceError) => end(err.code === 1 /* CANCELLED */ ? undefined : err));
  stream.on('end', () => end());
  return { routes, close: () => { ended = true; stream.cancel(); } };
}
