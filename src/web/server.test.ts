// The web page's server, started by the controller as a deployment starts it
// (startController with `web`), spoken to over real TLS with the lab CA's
// certificates: who gets in, what each path answers, and the audit record
// of a refusal. (The page in a browser, live: test/web/page.test.ts.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPki, type LabPki } from '../../test/helpers/lab-pki.js';
import { waitFor } from '../../test/helpers/wait.js';
import { startController, type ControllerHandle } from '../api/controller-server.js';
import type { TlsFiles } from '../trust/tls.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string; server: string }

const dir = mkdtempSync(join(tmpdir(), 'visp-web-'));
let pki: LabPki;
let ctl: ControllerHandle;
const audit: string[] = [];

beforeAll(async () => {
  pki = await labPki(join(dir, 'pki'), ['n1']);
  ctl = await startController({
    listen: [{ address: `unix:${join(dir, 'c.sock')}` }], tls: pki.controller, storePath: ':memory:', labPools: true,
    web: { listen: '127.0.0.1:0' }, log: (l) => { if (l.startsWith('audit ')) audit.push(l.slice(6)); }, tlsRefreshMs: 100,
  });
});
afterAll(async () => {
  await ctl?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A GET (or another method) as a client holding `who`'s certificate, or none. */
function get(path: string, who?: TlsFiles, method = 'GET', readMs = 0): Promise<Reply> {
  const [host, port] = [ctl.web!.split(':')[0]!, Number(ctl.web!.split(':')[1])];
  return new Promise((resolve, reject) => {
    const req = request({
      host, port, path, method, ca: readFileSync(pki.controller.ca),
      ...(who ? { cert: readFileSync(who.cert), key: readFileSync(who.key) } : {}),
      agent: false,
      // The controller's certificate names its identity (a URI), not a host: check the chain only.
      checkServerIdentity: () => undefined,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      const server = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      const done = (): void => resolve({ status: res.statusCode!, headers: res.headers, body, server });
      res.on('end', done);
      // A stream (/events) does not end: read it for a while.
      if (readMs) setTimeout(() => { req.destroy(); done(); }, readMs);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web page server', () => {
  it('listens where asked, on HTTPS with the controller\'s certificate', () => {
    expect(ctl.web).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('without a client certificate: 401 saying what is needed, audited', async () => {
    const r = await get('/');
    expect(r.status).toBe(401);
    expect(r.body).toContain('no client certificate: this page needs an operator or read-only operator certificate');
    const rec = JSON.parse(audit.at(-1)!) as Record<string, string>;
    expect(rec).toMatchObject({ identity: '', verb: 'Web.View', code: 'UNAUTHENTICATED' });
  });

  it('an aggregate manager\'s or a node\'s certificate: 403 naming who may', async () => {
    for (const who of [pki.am, pki.node('n1')]) {
      const r = await get('/', who);
      expect(r.status).toBe(403);
      expect(r.body).toMatch(/^Web\.View: a (am|node) identity may not call this \(allowed: operator, operator-readonly\)/);
    }
    expect(JSON.parse(audit.at(-1)!)).toMatchObject({ identity: 'spiffe://visp.test/node/n1', role: 'node', verb: 'Web.View', code: 'PERMISSION_DENIED' });
  });

  it('a certificate from another CA: 401', async () => {
    const other = await labPki(join(dir, 'other'), []);
    const r = await get('/', other.readonly);
    expect(r.status).toBe(401);
    expect(r.body).toContain('not issued by a CA this controller trusts');
  });

  it('a read-only operator gets the page, its script and stylesheet, under a strict CSP', async () => {
    const page = await get('/', pki.readonly);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<span id="who">operator-readonly viewer (visp.test)</span>');
    expect(page.body).not.toMatch(/<script>|style=/);
    const js = await get('/app.js', pki.operator);
    expect(js).toMatchObject({ status: 200, headers: expect.objectContaining({ 'content-type': 'text/javascript; charset=utf-8' }) });
    expect(js.body).toContain("new EventSource('/events')");
    expect((await get('/app.css', pki.readonly)).status).toBe(200);
  });

  it('/state is the state as JSON; /events streams it as server-sent events', async () => {
    const s = await get('/state', pki.readonly);
    expect(s.status).toBe(200);
    expect(JSON.parse(s.body)).toMatchObject({ version: expect.any(Number), slices: [], tunnels: [] });
    const ev = await get('/events', pki.readonly, 'GET', 500);
    expect(ev.status).toBe(200);
    expect(ev.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const msg = /^event: state\ndata: (.+)$/m.exec(ev.body);
    expect(msg, ev.body).not.toBeNull();
    expect(JSON.parse(msg![1]!)).toMatchObject({ slices: [], tunnels: [] });
  });

  it('read-only: anything but GET is 405; unknown paths 404', async () => {
    const post = await get('/state', pki.operator, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
    expect((await get('/nowhere', pki.readonly)).status).toBe(404);
  });
});

describe('the web page follows the controller\'s certificate', () => {
  it('replaced on disk, new connections get the new one', async () => {
    const before = (await get('/state', pki.readonly)).server;
    const want = new X509Certificate(readFileSync(pki.controller.cert)).fingerprint256;
    expect(before).toBe(want);
    await pki.issue('controller', 'controller');
    const next = new X509Certificate(readFileSync(pki.controller.cert)).fingerprint256;
    expect(next).not.toBe(before);
    await waitFor('the new certificate on new connections', async () => (await get('/state', pki.readonly)).server === next, 5000, 100);
  });
});

describe('the web page needs TLS', () => {
  it('a controller with only a plaintext socket refuses to serve it', async () => {
    await expect(startController({
      listen: [{ address: `unix:${join(dir, 'p.sock')}`, plaintextIdentity: 'spiffe://visp.test/operator/local' }], storePath: ':memory:', labPools: true,
      web: { listen: '127.0.0.1:0' }, log: () => undefined,
    })).rejects.toThrow('web.listen: the page needs TLS');
  });
});
