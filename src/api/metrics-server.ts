// The Prometheus endpoint of a controller or an agent: GET /metrics over
// HTTPS, with the daemon's own certificate and CA bundle (followed when
// rotated), behind the same trust as the API. A scraper presents a client
// certificate from the testbed CA with an operator or read-only operator
// identity (authz.ts's row `Metrics.Scrape`); anyone else gets 401 or 403,
// and each refusal is audited where the daemon has an audit log. Prometheus
// does this with its scrape config's tls_config (ca_file, cert_file,
// key_file): docs/operations.md, "Metrics".
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidSpecError } from '../errors.js';
import type { LogFn } from '../log.js';
import { authority, parseWebListen } from '../web/address.js';
import type { AuditLog } from './audit.js';
import { admitHttps } from './https-gate.js';
import { followTls, type CertificateFiles } from './tls.js';

export interface MetricsOptions {
  /** host:port or [v6]:port. */
  listen: string;
}

export interface MetricsDeps {
  /** The exposition text (a prom-client registry's). */
  scrape(): Promise<string>;
  certs: CertificateFiles;
  log: LogFn;
  audit?: AuditLog;
}

export interface MetricsHandle { address: string; close(): Promise<void> }

const VERB = 'Metrics.Scrape';
/** Prometheus' text exposition format, version 0.0.4 (what prom-client writes). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export async function startMetricsServer(o: MetricsOptions, d: MetricsDeps): Promise<MetricsHandle> {
  const at = parseWebListen(o.listen, 'metrics.listen');
  const tls = await followTls(d.certs);
  const server: Server = createServer({ ...tls.current(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      d.log(`metrics: ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`, { level: 'error', component: 'metrics' });
      if (!res.headersSent) send(res, 500, 'internal error (see the log)\n');
      else res.destroy();
    });
  });
  tls.onChange((ctx) => server.setSecureContext(ctx));
  server.on('tlsClientError', () => undefined);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const admitted = admitHttps(req, { certs: d.certs, verb: VERB, ...(d.audit ? { audit: d.audit } : {}), noCertHint: 'scraping needs an operator or read-only operator certificate from the testbed CA (docs/operations.md)' });
    if (!('caller' in admitted)) {
      if (!d.audit) d.log(`metrics: refused ${req.socket.remoteAddress}: ${admitted.message}`, { level: 'warn', component: 'metrics' });
      send(res, admitted.status, `${admitted.message}\n`);
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      send(res, 405, 'GET only\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'https://visp').pathname;
    if (path !== '/metrics') { send(res, 404, `${path}: not found (the metrics are at /metrics)\n`); return; }
    send(res, 200, await d.scrape(), CONTENT_TYPE);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new InvalidSpecError(`metrics.listen: cannot listen on ${o.listen}: ${e.code ?? e.message}`, { field: 'metrics.listen', cause: e })));
    server.listen(at.port, at.host, () => resolve());
  });
  const address = authority({ host: at.host, port: (server.address() as { port: number }).port });
  d.log(`metrics on https://${address}/metrics (client certificate: operator or read-only operator)`, { component: 'metrics' });
  return {
    address,
    close: async () => {
      tls.close();
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
    },
  };
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
