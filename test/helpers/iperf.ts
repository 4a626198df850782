// iperf3 across a link, for the shaping tests and the benchmark: TCP from
// one experiment namespace to another, the goodput it reports and what that
// is as a rate of the link's frames (what a capacity limits: each MSS-byte
// segment travels in a frame of MTU + 14 bytes). TCP runs BBR where the
// kernel has it: it paces at the bottleneck's rate instead of filling the
// shaper's queue until it drops, so the goodput shows the link's rate, not
// loss-based TCP's sawtooth over a drop-tail queue (cubic loses 3–8% of a
// 10 Mbit/s link here to retransmissions, which the link did carry).
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { iperfServer } from './nodes.js';

export interface Throughput {
  /** iperf3's receiver-side goodput, bit/s. */
  goodput: number;
  /** The same as a rate of frames on the link, bit/s. */
  frameRate: number;
  mss: number;
}

/** TCP from `from` to `toAddr` (in namespace `to`) for `seconds` (the first second omitted: slow start, the bucket's first burst). */
export async function measure(from: string, to: string, toAddr: string, mtu: number, seconds = 4): Promise<Throughput> {
  const stop = await iperfServer(to);
  try {
    const r = spawnSync('ip', ['netns', 'exec', from, 'iperf3', '-c', toAddr, '-t', String(seconds), '-O', '1', '-J', ...(hasBbr() ? ['-C', 'bbr'] : [])],
      { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
    if (r.status !== 0) throw new Error(`iperf3 ${from} → ${toAddr}: ${r.stdout.slice(0, 400)}${r.stderr}`);
    const j = JSON.parse(r.stdout) as { start: { tcp_mss_default: number }; end: { sum_received: { bits_per_second: number } } };
    const mss = j.start.tcp_mss_default;
    const goodput = j.end.sum_received.bits_per_second;
    return { goodput, mss, frameRate: (goodput * (mtu + 14)) / mss };
  } finally {
    stop();
  }
}

let bbr: boolean | undefined;
/** Whether TCP BBR is there (built in, or a module the kernel loads on first use: tcp_bbr). */
export function hasBbr(): boolean {
  if (bbr === undefined) {
    const list = (): string => { try { return readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8'); } catch { return ''; } };
    if (!/\bbbr\b/.test(list())) spawnSync('modprobe', ['tcp_bbr'], { stdio: 'ignore' });
    bbr = /\bbbr\b/.test(list());
  }
  return bbr;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
