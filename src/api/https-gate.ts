// Who may use one of the daemons' HTTPS endpoints (the operator's page, the
// metrics): the same trust as the gRPC API. The caller is the client
// certificate's identity, checked against the testbed CA (cached by
// fingerprint), and authorized for the endpoint's verb by authz.ts's table;
// a refusal is audited where the daemon keeps an audit log. One place, so the
// page and the metrics cannot drift apart on who gets in.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { UnauthenticatedError, VispError } from '../errors.js';
import type { AuditLog } from './audit.js';
import { authorize, callerOf, type Caller } from './authz.js';
import type { CertificateFiles } from './tls.js';

export interface HttpsGate {
  certs: CertificateFiles;
  /** The verb in authz.ts's table, e.g. Web.View. */
  verb: string;
  audit?: AuditLog;
  /** What a request without a client certificate is told (which certificate it needs). */
  noCertHint: string;
}

export type Admission = { caller: Caller } | { status: 401 | 403 | 500; message: string };

/** The request's caller, authorized for the gate's verb; or the refusal, already audited. */
export function admitHttps(req: IncomingMessage, g: HttpsGate): Admission {
  const sock = req.socket as TLSSocket;
  const peer = `${sock.remoteAddress}:${sock.remotePort}`;
  let caller: Caller | undefined;
  try {
    const cert = sock.getPeerCertificate();
    if (!cert?.raw) throw new UnauthenticatedError(`no client certificate: ${g.noCertHint}`);
    caller = callerOf(g.certs.verifyCached(cert.fingerprint256, cert.raw), peer);
    authorize(caller, g.verb);
    return { caller };
  } catch (e) {
    const status = e instanceof VispError && e.code === 'VISP_UNAUTHENTICATED' ? 401 : e instanceof VispError && e.code === 'VISP_PERMISSION_DENIED' ? 403 : 500;
    const message = e instanceof VispError ? e.message : 'internal error';
    g.audit?.write({ identity: caller?.uri ?? '', role: caller?.identity.role ?? '', peer, verb: g.verb,
      code: status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'PERMISSION_DENIED' : 'INTERNAL', message });
    return { status, message };
  }
}
