// `visp graph`: which format a command line asks for, and the API's manifest
// as the graph's view. (The command against a running lab, and its picture
// of a cut link: test/web/page.test.ts.)
import { describe, expect, it } from 'vitest';
import type { Manifest__Output } from '../api/gen/visp/v1/Manifest.js';
import { UsageError } from './args.js';
import { chooseFormat, graphFromPb } from './graph.js';

describe('visp graph', () => {
  it.each([
    [undefined, undefined, 'svg'],
    [undefined, 'x.svg', 'svg'],
    [undefined, 'x.dot', 'dot'],
    [undefined, 'x.GV', 'dot'],
    [undefined, 'x.mmd', 'mermaid'],
    [undefined, 'x.png', 'svg'],
    ['mermaid', 'x.svg', 'mermaid'],
    ['dot', undefined, 'dot'],
  ])('--format %s --out %s → %s', (format, out, want) => {
    expect(chooseFormat(format, out)).toBe(want);
  });

  it('refuses a format it does not draw, naming the flag', () => {
    expect(() => chooseFormat('png', undefined)).toThrow(UsageError);
    expect(() => chooseFormat('png', undefined)).toThrow('graph: flag --format: "png" is not one of svg, dot, mermaid');
  });

  it('reads the API\'s manifest: states and encapsulations in words, an egress end as an egress router', () => {
    const ep = (node: string, physicalNode: string, state: string, error = '') => ({
      node, physicalNode, netns: '', ifname: '', addresses: [], underlayAddress: '', remotes: [], bridge: '', tunnels: [], operationalState: state, error,
    });
    const m = {
      slice: 's1', operationalState: 'OPERATIONAL_STATE_FAILED',
      slivers: [
        { link: 'a', encapsulation: 'ENCAPSULATION_VXLAN', operationalState: 'OPERATIONAL_STATE_FAILED', error: 'r2: gone',
          endpoints: [ep('r1', 'n1', 'OPERATIONAL_STATE_READY'), ep('r2', 'n2', 'OPERATIONAL_STATE_FAILED', 'gone')] },
        { link: 'out', encapsulation: 'ENCAPSULATION_GRE', operationalState: 'OPERATIONAL_STATE_READY', error: '',
          endpoints: [ep('r2', 'n2', 'OPERATIONAL_STATE_READY'), ep('@egress', 'egr', 'OPERATIONAL_STATE_READY')] },
      ],
    } as unknown as Manifest__Output;
    expect(graphFromPb(m)).toEqual({
      slice: 's1', state: 'failed',
      routers: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'egress:egr', node: 'egr', egress: true }],
      links: [
        { id: 'a', encapsulation: 'vxlan', state: 'failed', error: 'r2: gone', ends: [{ router: 'r1', state: 'ready' }, { router: 'r2', state: 'failed', error: 'gone' }] },
        { id: 'out', encapsulation: 'gre', state: 'ready', ends: [{ router: 'r2', state: 'ready' }, { router: 'egress:egr', state: 'ready' }] },
      ],
    });
  });
});
