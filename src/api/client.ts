// A small promise-based client for our API (CLI, tests, aggregate managers
// written in TypeScript). Method names are the RPC names in camelCase.
import * as grpc from '@grpc/grpc-js';
import { visp } from './proto.js';
import { CertificateFiles, channelCredentials, TLS_CHANNEL_OPTIONS } from './tls.js';
import type { TlsFiles } from '../trust/tls.js';
import type { LinksClient } from './gen/visp/v1/Links.js';
import type { OperatorClient } from './gen/visp/v1/Operator.js';
import type { WatchEventsRequest } from './gen/visp/v1/WatchEventsRequest.js';
import type { WatchEventsResponse__Output } from './gen/visp/v1/WatchEventsResponse.js';

type Promisified<C, Names extends keyof C> = {
  [K in Names as Uncapitalize<K & string>]: C[K] extends (req: infer Req, cb: (err: grpc.ServiceError | null, res?: infer Res) => void) => unknown
    ? (req: Req) => Promise<Res> : never;
};

type LinksRpc = 'GetVersion' | 'ListResources' | 'Allocate' | 'Provision' | 'Status' | 'Describe' | 'Renew' | 'PerformOperationalAction' | 'Delete' | 'Shutdown' | 'SetLinkProperties' | 'CancelScheduledChange';
type OperatorRpc = 'ListNodes' | 'ListSlices' | 'ListTunnels' | 'GetTunnel' | 'Plan' | 'SetEgressNode' | 'ListBgp' | 'SetLinkProperties' | 'CancelScheduledChange';

export interface VispClient {
  links: Promisified<LinksClient, LinksRpc>;
  operator: Promisified<OperatorClient, OperatorRpc> & {
    watchEvents(req: WatchEventsRequest): AsyncIterable<WatchEventsResponse__Output> & { cancel(): void };
  };
  close(): void;
}

function promisify<C extends grpc.Client>(client: C, names: readonly string[]): Record<string, (req: unknown) => Promise<unknown>> {
  const out: Record<string, (req: unknown) => Promise<unknown>> = {};
  for (const n of names) {
    const fn = (client as unknown as Record<string, (req: unknown, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void>)[n]!.bind(client);
    out[n[0]!.toLowerCase() + n.slice(1)] = (req) => new Promise((resolve, reject) => fn(req ?? {}, (e, r) => (e ? reject(e) : resolve(r))));
  }
  return out;
}

/**
 * A client for the controller at `address`. With `tls` (files, or a
 * CertificateFiles that follows them) it speaks mTLS and checks the server is
 * a controller of its trust domain; without, plaintext (only a controller's
 * plaintext unix socket accepts that).
 */
export function connect(address: string, tls?: TlsFiles | CertificateFiles): VispClient {
  const { pkg } = visp();
  const certs = tls === undefined ? undefined : tls instanceof CertificateFiles ? tls : new CertificateFiles(tls);
  const creds = certs ? channelCredentials(certs) : grpc.credentials.createInsecure();
  const options = { 'grpc.max_receive_message_length': 64 << 20, ...(certs ? TLS_CHANNEL_OPTIONS : {}) };
  const links = new pkg.visp.v1.Links(address, creds, options);
  const operator = new pkg.visp.v1.Operator(address, creds, options);
  const ops = promisify(operator, ['ListNodes', 'ListSlices', 'ListTunnels', 'GetTunnel', 'Plan', 'SetEgressNode', 'ListBgp', 'SetLinkProperties', 'CancelScheduledChange']);
  return {
    links: promisify(links, ['GetVersion', 'ListResources', 'Allocate', 'Provision', 'Status', 'Describe', 'Renew', 'PerformOperationalAction', 'Delete', 'Shutdown', 'SetLinkProperties', 'CancelScheduledChange']) as unknown as VispClient['links'],
    operator: {
      ...(ops as unknown as Promisified<OperatorClient, OperatorRpc>),
      watchEvents(req) {
        const call = operator.watchEvents(req);
        const it = call[Symbol.asyncIterator]() as AsyncIterator<WatchEventsResponse__Output>;
        return {
          [Symbol.asyncIterator]: () => ({
            next: async () => {
              try { return await it.next(); } catch (e) {
                if ((e as grpc.ServiceError).code === grpc.status.CANCELLED) return { done: true, value: undefined };
                throw e;
              }
            },
          }),
          cancel: () => call.cancel(),
        };
      },
    },
    close() { links.close(); operator.close(); if (certs && certs !== tls) certs.close(); },
  };
}
