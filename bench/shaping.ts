// npm run bench -- shaping [--seconds 5] [--repeats 3] [--rates 10,100,1000]
//
// How exactly a link's capacity holds, and what shaping costs. One VXLAN
// link between two experiment namespaces on two node namespaces (veth
// underlay), built and shaped through NodeKernel as an agent does it
// (src/shape/: tbf on the sending node's tunnel egress). For each capacity,
// iperf3 TCP (BBR where the kernel has it) from one experiment to the other,
// `repeats` times; the rate on the link is the goodput as a rate of frames
// (each MSS-byte segment is a frame of MTU + 14 bytes), and the ratio is that
// over the capacity (median of the repeats). The shaper's cost: throughput
// with a capacity far above what the path carries (100 Gbit/s: the tbf does
// all its work, never throttles) over throughput unshaped, repeats
// interleaved so machine noise lands on both alike.
//
// Progress goes to stderr; the last stdout line is JSON with
// rate_ratio_<N>mbit for each rate, goodput_ratio_<N>mbit (iperf3's own
// figure over the capacity: about (MSS)/(MTU + 14) ≈ 0.955 at best), and
// shaper_cost_ratio.
import type { NodeKernel } from '../src/endpoint/node.js';
import { NodeKernel as Kernel } from '../src/endpoint/node.js';
import type { EndpointSpec } from '../src/endpoint/spec.js';
import type { LinkProperties } from '../src/shape/properties.js';
import { hasBbr, measure, type Throughput } from './lib/iperf.js';
import { log, median, round, settle } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, ipIn, removeAllScratch, scratchNetns } from './lib/scratch.js';

const MTU = 1450;
/** A capacity no path on one machine carries: the shaper works on every packet and never holds one back. */
const ABOVE_LINE_RATE = 100e9;

interface Options { seconds: number; repeats: number; rates: number[] }

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 5, repeats: 3, rates: [10, 100, 1000] };
  parseOptions(argv, {
    '--seconds': (v) => { o.seconds = v.int(2); },
    '--repeats': (v) => { o.repeats = v.int(); },
    '--rates': (v) => { o.rates = v.ints(); },
  });
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupOnSignal();
  const a = scratchNetns('sha'), b = scratchNetns('shb'), xa = scratchNetns('shxa'), xb = scratchNetns('shxb');
  ipIn(a, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b);
  ipIn(a, 'addr', 'add', '198.18.0.1/24', 'dev', 'ul0');
  ipIn(b, 'addr', 'add', '198.18.0.2/24', 'dev', 'ul0');
  ipIn(a, 'link', 'set', 'ul0', 'up');
  ipIn(b, 'link', 'set', 'ul0', 'up');
  const A: NodeKernel = new Kernel({ netns: a, engine: false });
  const B: NodeKernel = new Kernel({ netns: b, engine: false });
  try {
    const common = { slice: 'bench', link: 'l', group: 7301, kind: 'vxlan' as const, key: 4701, ifname: 'eth1', mtu: MTU };
    const shape = async (p: LinkProperties | undefined): Promise<void> => {
      const sa: EndpointSpec = { ...common, local: '198.18.0.1', remotes: ['198.18.0.2'], netns: xa, addresses: ['192.0.2.0/31'], ...(p ? { properties: p } : {}) };
      const sb: EndpointSpec = { ...common, local: '198.18.0.2', remotes: ['198.18.0.1'], netns: xb, addresses: ['192.0.2.1/31'] };
      for (const [k, s] of [[A, sa], [B, sb]] as const) {
        const r = await k.reconcile([s]);
        if (r[0]!.error) throw r[0]!.error;
      }
    };
    const once = async (): Promise<Throughput> => {
      if (!(await settle())) log('  (the machine is busy: measuring anyway)');
      return measure(xa, xb, '192.0.2.1', MTU, o.seconds);
    };
    log(`shaping: VXLAN link, MTU ${MTU}, iperf3 TCP ${hasBbr() ? 'BBR' : 'cubic (no BBR here)'}, ${o.seconds} s after 1 s omitted, ${o.repeats} repeats`);

    const out: Record<string, number | string | boolean> = { bench: 'shaping', tcp: hasBbr() ? 'bbr' : 'cubic', seconds: o.seconds, repeats: o.repeats };
    for (const mbit of o.rates) {
      const cap = mbit * 1e6;
      await shape({ capacity: cap });
      const runs: Throughput[] = [];
      for (let i = 0; i < o.repeats; i++) {
        const t = await once();
        runs.push(t);
        log(`  ${mbit} Mbit/s: frame rate ${(t.frameRate / 1e6).toFixed(2)} Mbit/s (ratio ${(t.frameRate / cap).toFixed(3)}), goodput ${(t.goodput / 1e6).toFixed(2)}, retransmits ${t.retransmits}`);
      }
      out[`rate_ratio_${mbit}mbit`] = round(median(runs.map((t) => t.frameRate / cap)));
      out[`goodput_ratio_${mbit}mbit`] = round(median(runs.map((t) => t.goodput / cap)));
    }

    const bare: number[] = [], shaped: number[] = [];
    for (let i = 0; i < o.repeats; i++) {
      await shape(undefined);
      bare.push((await once()).goodput);
      await shape({ capacity: ABOVE_LINE_RATE });
      shaped.push((await once()).goodput);
      log(`  unshaped ${(bare[i]! / 1e9).toFixed(2)} Gbit/s, shaper at 100 Gbit/s ${(shaped[i]! / 1e9).toFixed(2)} Gbit/s`);
    }
    out.unshaped_gbps = round(median(bare) / 1e9);
    out.shaped_above_line_gbps = round(median(shaped) / 1e9);
    out.shaper_cost_ratio = round(median(shaped) / median(bare));
    await shape(undefined);
    await A.deleteSlice(7301, [xa]);
    await B.deleteSlice(7301, [xb]);
    console.log(JSON.stringify(out));
  } finally {
    A.close();
    B.close();
    removeAllScratch();
  }
}

main().catch((e: Error) => {
  log(`shaping: ${e.stack ?? e.message}`);
  removeAllScratch();
  process.exit(1);
});
