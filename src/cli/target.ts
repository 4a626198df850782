// Which controller a command talks to, and as whom: --controller, else
// $VISP_CONTROLLER, else the lab's socket when exactly one lab is up. The
// certificate is $VISP_TLS_CERT/$VISP_TLS_KEY with the CA bundle $VISP_TLS_CA
// (all three, or none: then plaintext, which only a controller's plaintext
// unix socket accepts); for a lab's controller, the lab's operator certificate.
import { status } from '@grpc/grpc-js';
import { connect, type VispClient } from '../api/client.js';
import { errorText, labOperatorTls, listLabs, rpcCode, soleLabController } from '../lab/index.js';
import type { TlsFiles } from '../trust/tls.js';
import { normalizeAddress } from '../config/common.js';
import { UsageError } from './args.js';


/** TLS files from the environment: all of VISP_TLS_CA, VISP_TLS_CERT, VISP_TLS_KEY, or none. */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): TlsFiles | undefined {
  const names = ['VISP_TLS_CA', 'VISP_TLS_CERT', 'VISP_TLS_KEY'] as const;
  const set = names.filter((n) => env[n]);
  if (!set.length) return undefined;
  if (set.length < names.length) throw new UsageError(`set all of ${names.join(', ')} (the CA bundle, your certificate and key), not only ${set.join(', ')}`);
  return { ca: env.VISP_TLS_CA!, cert: env.VISP_TLS_CERT!, key: env.VISP_TLS_KEY! };
}

export function controllerTarget(flag: string | undefined): { address: string; tls?: TlsFiles } {
  const given = flag ?? process.env.VISP_CONTROLLER;
  if (given) {
    const address = normalizeAddress(given);
    // A lab's controller named explicitly: the lab's operator certificate, unless the environment names one.
    const tls = tlsFromEnv() ?? labOperatorTls(address);
    return { address, ...(tls ? { tls } : {}) };
  }
  const lab = soleLabController();
  if (lab) return { address: lab.address, tls: tlsFromEnv() ?? lab.tls };
  const labs = listLabs();
  throw new UsageError(labs.length > 1
    ? `which controller? ${labs.length} labs are up (${labs.join(', ')}): give --controller unix:/run/visp/lab-NAME/controller.sock or set VISP_CONTROLLER (and VISP_TLS_CA/CERT/KEY: the lab's are in /run/visp/lab-NAME/pki)`
    : 'no controller: give --controller ADDR or set VISP_CONTROLLER (no lab is up; start one with: visp lab up FILE)');
}

/** Run `fn` with a client, closed afterwards; "cannot reach" names the address. */
export async function withClient<T>(flag: string | undefined, fn: (c: VispClient) => Promise<T>): Promise<T> {
  const { address, tls } = controllerTarget(flag);
  const client = connect(address, tls);
  try {
    return await fn(client);
  } catch (e) {
    if (rpcCode(e) === status.UNAVAILABLE) throw new Error(`cannot reach the controller at ${address} (${errorText(e)})`, { cause: e });
    throw e;
  } finally {
    client.close();
  }
}
