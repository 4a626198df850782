// Which controller a command talks to: --controller, else $VISP_CONTROLLER,
// else the lab's socket when exactly one lab is up.
import { status } from '@grpc/grpc-js';
import { connect, type VispClient } from '../api/client.js';
import { errorText, listLabs, rpcCode, soleLabController } from '../lab/index.js';
import { UsageError } from './args.js';

/** A bare path is a unix socket. */
export function normalizeAddress(a: string): string {
  return a.startsWith('/') ? `unix:${a}` : a;
}

export function controllerAddress(flag: string | undefined): string {
  if (flag) return normalizeAddress(flag);
  const env = process.env.VISP_CONTROLLER;
  if (env) return normalizeAddress(env);
  const lab = soleLabController();
  if (lab) return lab;
  const labs = listLabs();
  throw new UsageError(labs.length > 1
    ? `which controller? ${labs.length} labs are up (${labs.join(', ')}): give --controller unix:/run/visp/lab-NAME/controller.sock or set VISP_CONTROLLER`
    : 'no controller: give --controller ADDR or set VISP_CONTROLLER (no lab is up; start one with: visp lab up FILE)');
}

/** Run `fn` with a client, closed afterwards; "cannot reach" names the address. */
export async function withClient<T>(flag: string | undefined, fn: (c: VispClient) => Promise<T>): Promise<T> {
  const address = controllerAddress(flag);
  const client = connect(address);
  try {
    return await fn(client);
  } catch (e) {
    if (rpcCode(e) === status.UNAVAILABLE) throw new Error(`cannot reach the controller at ${address} (${errorText(e)})`, { cause: e });
    throw e;
  } finally {
    client.close();
  }
}
