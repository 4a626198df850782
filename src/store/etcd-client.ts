// The connection to an etcd cluster: one etcd3 client per member, each with
// the library's own retries and circuit breakers turned off, so that which
// member is asked next, and whether a call may be repeated at all, is decided
// here (etcd-store.ts): a read may go to the next member at once; a commit
// whose answer was lost may already have happened and is never simply sent
// again. Calls carry a deadline, so a cluster without quorum (etcd queues
// such requests) answers UnavailableError within it instead of never.
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import { InvalidSpecError, UnavailableError } from '../errors.js';
import type { TlsFiles } from '../trust/tls.js';
import type { EtcdLocation } from './etcd-url.js';

export interface EtcdClientOptions {
  /** Client certificate, key and the CA the members' certificates chain to (mutual TLS). */
  readonly tls?: TlsFiles;
  /** Deadline of one unary call, ms (default 5000). */
  readonly callTimeoutMs?: number;
}

// A policy that calls once. Async, so that a synchronous throw becomes a
// rejection: etcd3 reports a failed stream by running a throwing function
// through the policy and catching the promise.
const noRetry = { execute: async <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T): Promise<T> => fn({ signal: new AbortController().signal, attempt: 1 }) };

export class EtcdMembers {
  readonly clients: readonly Etcd3[];
  /** The member asked first: the last one that answered. */
  private preferred = 0;
  readonly callTimeoutMs: number;

  constructor(readonly location: EtcdLocation, o: EtcdClientOptions = {}) {
    this.callTimeoutMs = o.callTimeoutMs ?? 5000;
    let credentials: IOptions['credentials'];
    if (o.tls) {
      const read = (f: string, what: string): Buffer => {
        try { return readFileSync(f); } catch (e) { throw new InvalidSpecError(`etcd TLS ${what} ${f}: ${(e as Error).message}`, { cause: e }); }
      };
      credentials = { rootCertificate: read(o.tls.ca, 'CA'), certChain: read(o.tls.cert, 'certificate'), privateKey: read(o.tls.key, 'key') };
    }
    const timeout = this.callTimeoutMs;
    this.clients = location.endpoints.map((ep) => {
      const grpcOptions: Record<string, string | number> = {
        // A big slice's records come back in one read.
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
        'grpc.max_send_message_length': 256 * 1024 * 1024,
        // Notice a member that vanished without closing its connections.
        'grpc.keepalive_time_ms': 2000,
        'grpc.keepalive_timeout_ms': 2000,
      };
      // The member's certificate must name the address dialled (for a unix:
      // endpoint, grpc's authority: localhost).
      return new Etcd3({
        hosts: [ep],
        ...(credentials ? { credentials } : {}),
        grpcOptions,
        dialTimeout: timeout,
        defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
        faultHandling: { host: () => noRetry as never, global: noRetry as never },
      });
    });
  }

  /** Members in the order to try them: the preferred one first. */
  order(): number[] {
    const n = this.clients.length;
    return Array.from({ length: n }, (_, i) => (this.preferred + i) % n);
  }

  answered(i: number): void { this.preferred = i; }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/**
 * An etcd or transport failure as visp's error. Limits of the cluster's
 * configuration (too many operations, too big a request) say which setting.
 */
export function etcdError(op: string, where: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (/too many operations in txn/.test(msg)) {
    return new UnavailableError(`etcd ${where}: ${op}: too many operations in one transaction; start etcd with a larger --max-txn-ops`, { cause: err });
  }
  if (/request is too large|larger than max|ResourceExhausted|received message larger/i.test(msg)) {
    return new UnavailableError(`etcd ${where}: ${op}: request too large; start etcd with a larger --max-request-bytes`, { cause: err });
  }
  return new UnavailableError(`etcd ${where}: ${op}: ${msg}`, { cause: err });
}
