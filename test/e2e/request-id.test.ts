// Structured logs, end to end: the controller's records (pino, JSON lines)
// and real `visp agent` processes' stderr (JSON lines: stderr is not a
// terminal). A Provision call gets a request id at the gRPC edge; the
// controller's record of that call carries it, the desired state it pushes
// carries it to the agents, and each agent's records about applying that
// state (the steps that built the links) carry the same id, with the slice,
// link and node they are about.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logTo, processLogger } from '../../src/log.js';
import { kernelSkipReason } from '../helpers/netns.js';
import * as grpc from '@grpc/grpc-js';
import { visp } from '../../src/api/proto.js';
import { CertificateFiles, channelCredentials, TLS_CHANNEL_OPTIONS } from '../../src/api/tls.js';
import { AgentProcesses, Lab, p2p } from './support.js';

type Rec = Record<string, unknown> & { level: string; component: string; msg: string; requestId?: string };

const parse = (lines: readonly string[]): Rec[] => lines.flatMap((l) => {
  try { return [JSON.parse(l) as Rec]; } catch { return []; }
});

describe.skipIf(kernelSkipReason)('logs: a request id follows a call from the gRPC edge to the agents\' steps', () => {
  const controllerLines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { controllerLines.push(...chunk.toString().split('\n').filter(Boolean)); cb(); } });
  const lab = new Lab('rq', ['n1', 'n2'], { agents: [], controllerLog: logTo(processLogger({ component: 'controller', destination: sink, pretty: false, level: 'debug' })) });
  const agents = new AgentProcesses(lab);

  beforeAll(async () => {
    await lab.start();
    for (const n of ['n1', 'n2']) await agents.start(n);
    await lab.waitConnected(['n1', 'n2']);
  }, 60_000);
  afterAll(async () => {
    await agents.stopAll();
    await lab.close();
  });

  it('every daemon line is a JSON record with level, time and component', () => {
    const lines = [...controllerLines, ...agents.logs.get('n1')!];
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(JSON.parse(l), l).toMatchObject({ level: expect.stringMatching(/^(debug|info|warn|error)$/), time: expect.any(String), component: expect.any(String) });
    expect(parse(agents.logs.get('n1')!).every((r) => r.node === 'n1')).toBe(true);
  });

  it('Provision\'s id is on the controller\'s record of the call and on both agents\' records of the links they built', async () => {
    const slice = lab.slice('rid');
    await lab.api.links.allocate({ slice, topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [p2p('r1r2', 'r1', 'r2')] } });
    await lab.api.links.provision({ slice });
    await lab.waitState(slice, 'OPERATIONAL_STATE_READY');

    const calls = parse(controllerLines).filter((r) => r.component === 'rpc');
    const provision = calls.find((r) => r.method === 'Links.Provision' && r.slice === slice);
    expect(provision, JSON.stringify(calls)).toMatchObject({ level: 'info', code: 'OK', requestId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const allocate = calls.find((r) => r.method === 'Links.Allocate' && r.slice === slice)!;
    expect(allocate.requestId).not.toBe(provision!.requestId);
    const id = provision!.requestId!;

    for (const node of ['n1', 'n2']) {
      const mine = parse(agents.logs.get(node)!).filter((r) => r.requestId === id);
      // The desired state arrived with it…
      expect(mine.some((r) => r.component === 'controller-link' && r.msg.startsWith('desired state')), `${node}: ${JSON.stringify(mine)}`).toBe(true);
      // …and the steps that built the link say so, naming what they are about.
      const built = mine.filter((r) => r.component === 'reconcile' && / built: /.test(r.msg));
      expect(built.length, `${node}: ${JSON.stringify(mine)}`).toBeGreaterThan(0);
      for (const r of built) expect(r).toMatchObject({ slice, link: 'r1r2', node, level: 'info' });
    }
    // Allocate builds nothing: no agent record carries its id.
    for (const node of ['n1', 'n2']) expect(parse(agents.logs.get(node)!).filter((r) => r.requestId === allocate.requestId && r.component === 'reconcile')).toEqual([]);
  });

  it('a client\'s own plain request id is used and returned in the trailer; otherwise a new one is', async () => {
    const { pkg } = visp();
    const certs = new CertificateFiles(lab.pki.am);
    const links = new pkg.visp.v1.Links(lab.address, channelCredentials(certs), TLS_CHANNEL_OPTIONS);
    const status = (md: grpc.Metadata): Promise<{ code: number; id: unknown }> => new Promise((resolve) => {
      const call = links.status({ slice: 'no-such-slice' }, md, () => undefined);
      call.on('status', (st: grpc.StatusObject) => resolve({ code: st.code, id: st.metadata.get('visp-request-id')[0] }));
    });
    try {
      const mine = new grpc.Metadata();
      mine.set('visp-request-id', 'ticket-4711');
      expect(await status(mine)).toEqual({ code: grpc.status.NOT_FOUND, id: 'ticket-4711' });
      const odd = new grpc.Metadata();
      odd.set('visp-request-id', 'not plain!');
      const fresh = await status(odd);
      expect(fresh.id).toMatch(/^[0-9a-f]{16}$/);
      const rpc = parse(controllerLines).filter((r) => r.component === 'rpc' && r.method === 'Links.Status' && r.code === 'NOT_FOUND');
      expect(rpc.map((r) => r.requestId)).toEqual(expect.arrayContaining(['ticket-4711', fresh.id]));
      expect(rpc.every((r) => r.level === 'debug')).toBe(true);
    } finally {
      links.close();
      certs.close();
    }
  });
});
