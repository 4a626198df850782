// A controller's refusal of a field of the topology a file gave is put at
// that field's place in the file (visp plan, visp lab up); other refusals
// stay as the controller said them.
import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parseTopologyPlaced } from '../topology/yaml.js';
import { errorText, placeRefusal, rpcField } from './rpc.js';

/** A refusal as @grpc/grpc-js hands it to a client: code, details and the visp-field metadata src/api/errors.ts sets. */
function refusal(code: status, details: string, field?: string): Error & { code: number; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  if (field !== undefined) metadata.set('visp-field', field);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

const FILE = `name: s1
nodes: { r1: n1, r2: n2 }
links:
  - id: l1
    endpoints: [r1, r2]
    encapsulation: vxlan
    mtu: 1500
`;

describe('placeRefusal', () => {
  const { place } = parseTopologyPlaced(FILE, { file: 't.yaml' });

  it('an INVALID_ARGUMENT about a topology field: still the refusal, its details at the file\'s place and field', () => {
    const e = refusal(status.INVALID_ARGUMENT, 'topology.links[0].mtu: 1500 is more than vxlan allows over this underlay (1450)', 'topology.links[0].mtu');
    const placed = placeRefusal(e, place);
    expect(placed).toMatchObject({ code: status.INVALID_ARGUMENT, details: 't.yaml:7:10: links[0].mtu: 1500 is more than vxlan allows over this underlay (1450)', cause: e });
    expect(rpcField(placed)).toBe('topology.links[0].mtu');
    expect(errorText(placed)).toBe('INVALID_ARGUMENT: t.yaml:7:10: links[0].mtu: 1500 is more than vxlan allows over this underlay (1450)');
  });

  it('a router\'s physical node: the router in the file', () => {
    const e = refusal(status.INVALID_ARGUMENT, 'topology.nodes[1].node: unknown physical node "n2" (known: n1)', 'topology.nodes[1].node');
    expect((placeRefusal(e, place) as { details: string }).details).toBe('t.yaml:2:22: nodes.r2: unknown physical node "n2" (known: n1)');
  });

  it.each([
    ['another status', refusal(status.FAILED_PRECONDITION, 'topology.links[0].egress.node: n3 has no egress', 'topology.links[0].egress.node')],
    ['the slice id (it may come from a flag, not the file)', refusal(status.INVALID_ARGUMENT, 'slice: "a b" must be …', 'slice')],
    ['no field', refusal(status.INVALID_ARGUMENT, 'something')],
    ['not a gRPC error', new Error('boom')],
  ])('%s: as it is', (_what, e) => {
    expect(placeRefusal(e, place)).toBe(e);
  });

  it('rpcField reads visp-field', () => {
    expect(rpcField(refusal(status.INVALID_ARGUMENT, 'x', 'topology.links'))).toBe('topology.links');
    expect(rpcField(new Error('x'))).toBeUndefined();
  });
});
