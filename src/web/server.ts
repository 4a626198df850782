// The controller's read-only web page, over HTTPS with the controller's own
// certificate and CA. A browser authenticates as the gRPC clients do: with a
// client certificate from the testbed CA, checked per request (the handshake
// asks for one but lets a missing or bad one through, so the browser gets a
// page saying why rather than a bare TLS alert), and allowed by authz.ts's
// POLICY row `Web.View` (operator, read-only operator). Refusals are
// audited like refused calls.
//
// /         the page (page.ts)
// /events   server-sent events: a `state` message now and after every change
// /state    the same state once, as JSON (scripts, curl)
//
// A change is a controller event (a link's state, a repair, a slice
// allocated or deleted…: what WatchEvents streams), answered within
// EVENT_DELAY_MS; counters are re-read every refreshMs while a page is open.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from '../controller/controller.js';
import { InvalidSpecError } from '../errors.js';
import type { AuditLog } from '../api/audit.js';
import { admitHttps } from '../api/https-gate.js';
import { followTls, type CertificateFiles } from '../api/tls.js';
import { describeIdentity } from '../trust/identity.js';
import { authority, parseWebListen } from './address.js';
import { PAGE_CSS, PAGE_JS, pageHtml } from './page.js';
import { pageState, type PageState, type PictureCache } from './snapshot.js';

export interface WebOptions {
  /** host:port or [v6]:port. */
  listen: string;
}

export interface WebDeps {
  controller: Pick<Controller, 'listSlices' | 'listTunnels' | 'on' | 'off'>;
  /** The controller's TLS files: the same certificate, key and CA bundle as its gRPC listeners, followed when rotated. */
  certs: CertificateFiles;
  log: (line: string) => void;
  audit?: AuditLog;
  /** How often counters are re-read while a page is open (default 2 s). */
  refreshMs?: number;
}

export interface WebHandle { address: string; close(): Promise<void> }

const VERB = 'Web.View';
/** A controller event is on the page this soon (events come in bursts: one redraw per burst). */
const EVENT_DELAY_MS = 100;
const KEEPALIVE_MS = 15_000;
/** Open pages at once; more get 503 (each costs a redraw per change). */
const MAX_STREAMS = 64;
/** A page that does not read its stream is dropped past this much unsent. */
const MAX_BACKLOG = 8 << 20;

const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export async function startWebServer(o: WebOptions, d: WebDeps): Promise<WebHandle> {
  const at = parseWebListen(o.listen);
  const tls = await followTls(d.certs);
  const pictures: PictureCache = new Map();
  const live = new Live(async () => pageState(await d.controller.listSlices(), await d.controller.listTunnels(), { cache: pictures }), d.refreshMs ?? 2000, d.log);
  d.controller.on('event', live.changed);

  const server: Server = createServer({ ...tls.current(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      d.log(`web: ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error (see the controller log)\n');
      else res.destroy();
    });
  });
  tls.onChange((ctx) => server.setSecureContext(ctx));
  // A browser that gives up on the handshake (or a port scan) is not worth a log line each.
  server.on('tlsClientError', () => undefined);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const admitted = admitHttps(req, { certs: d.certs, verb: VERB, ...(d.audit ? { audit: d.audit } : {}), noCertHint: 'this page needs an operator or read-only operator certificate from the testbed CA in your browser (docs/operations.md)' });
    if (!('caller' in admitted)) {
      send(res, admitted.status, 'text/plain', `${admitted.message}\n`);
      return;
    }
    const { caller } = admitted;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      send(res, 405, 'text/plain', 'this page is read-only: GET only\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'https://visp').pathname;
    switch (path) {
      case '/': return send(res, 200, 'text/html; charset=utf-8', pageHtml(describeIdentity(caller.identity)));
      case '/app.js': return send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS);
      case '/app.css': return send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
      case '/state': return send(res, 200, 'application/json', `${await live.message()}\n`);
      case '/events': return live.subscribe(res);
      case '/favicon.ico': return send(res, 204, 'text/plain', '');
      default: return send(res, 404, 'text/plain', `${path}: not found (the page is /)\n`);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new InvalidSpecError(`web.listen: cannot listen on ${o.listen}: ${e.code ?? e.message}`, { field: 'web.listen', cause: e })));
    server.listen(at.port, at.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const address = authority({ host: at.host, port });
  d.log(`web page on https://${address}/ (client certificate: operator or read-only operator)`);
  return {
    address,
    close: async () => {
      d.controller.off('event', live.changed);
      live.close();
      tls.close();
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The page's state and the pages watching it: recomputed after a controller
 * event (EVENT_DELAY_MS) and every refreshMs while a page is open, sent to
 * every page when it differs from what they have. One read at a time.
 */
class Live {
  private readonly streams = new Set<ServerResponse>();
  private body: string | undefined;
  private last: string | undefined;
  private version = 0;
  private due: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly tick: NodeJS.Timeout;
  private readonly keepalive: NodeJS.Timeout;
  private failing = '';

  constructor(private readonly read: () => Promise<PageState>, refreshMs: number, private readonly log: (l: string) => void) {
    this.tick = setInterval(() => { if (this.streams.size) this.refresh(); }, refreshMs);
    this.keepalive = setInterval(() => { for (const s of this.streams) s.write(': keepalive\n\n'); }, KEEPALIVE_MS);
    this.tick.unref();
    this.keepalive.unref();
  }

  /** The controller's 'event' listener: a redraw soon, for every burst of events. */
  readonly changed = (): void => {
    // Nobody watching: the next page reads the state when it opens.
    if (this.due || !this.streams.size) return;
    this.due = setTimeout(() => { this.due = undefined; this.refresh(); }, EVENT_DELAY_MS);
    this.due.unref();
  };

  /** The current state as one JSON message (read now if nobody is watching). */
  async message(): Promise<string> {
    if (!this.streams.size || this.last === undefined) await this.refresh();
    return this.last!;
  }

  subscribe(res: ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) {
      send(res, 503, 'text/plain', `too many open pages (${MAX_STREAMS}); close one and reload\n`);
      return;
    }
    res.writeHead(200, { ...HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
    // A new page gets the latest state; read it again first when it may be stale (no page was open).
    void this.message().then((m) => { if (this.streams.has(res)) this.write(res, m); }, () => undefined);
  }

  refresh(): Promise<void> {
    if (this.running) { this.again = true; return this.running; }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          const state = await this.read();
          this.failing = '';
          const body = JSON.stringify(state);
          if (body === this.body && this.last !== undefined) continue;
          this.body = body;
          this.version++;
          this.last = `{"version":${this.version},"time":"${new Date().toISOString()}",${body.slice(1)}`;
          for (const s of this.streams) this.write(s, this.last);
        } catch (e) {
          const m = (e as Error).message;
          if (m !== this.failing) this.log(`web: reading the state: ${m}`);
          this.failing = m;
          if (this.last === undefined) throw e;
        }
      } while (this.again);
    })().finally(() => { this.running = undefined; });
    return this.running;
  }

  private write(s: ServerResponse, message: string): void {
    if (s.writableLength > MAX_BACKLOG) { s.destroy(); this.streams.delete(s); return; }
    s.write(`event: state\ndata: ${message}\n\n`);
  }

  close(): void {
    clearInterval(this.tick);
    clearInterval(this.keepalive);
    if (this.due) clearTimeout(this.due);
    for (const s of this.streams) s.end();
    this.streams.clear();
  }
}
