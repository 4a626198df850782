// iperf3 across a link, for the shaping benchmark and tests: TCP from one
// experiment namespace to another, the goodput it reports and what that is
// as a rate of the link's frames (what a capacity limits: each MSS-byte
// segment travels in a frame of MTU + 14 bytes). TCP runs BBR where the
// kernel has it: it paces at the bottleneck's rate instead of filling the
// shaper's queue until it drops, so the goodput shows the link's rate, not
// loss-based TCP's sawtooth over a drop-tail queue (cubic lost 3–8% of a
// 10 Mbit/s link here to retransmissions, which the link did carry).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Throughput {
  /** iperf3's receiver-side goodput, bit/s. */
  goodput: number;
  /** The same as a rate of frames on the link, bit/s. */
  frameRate: number;
  mss: number;
  retransmits: number;
}

let bbr: boolean | undefined;
/** Whether TCP BBR is there (built in, or the tcp_bbr module, loaded here if need be). */
export function hasBbr(): boolean {
  if (bbr === undefined) {
    const list = (): string => { try { return readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8'); } catch { return ''; } };
    if (!/\bbbr\b/.test(list())) spawnSync('modprobe', ['tcp_bbr'], { stdio: 'ignore' });
    bbr = /\bbbr\b/.test(list());
  }
  return bbr;
}

/** An iperf3 server in `ns`, listening (on 5201) when this resolves; call the result to stop it. */
async function server(ns: string): Promise<() => void> {
  const srv = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s'], { stdio: 'ignore' });
  const listening = (): boolean => /:5201\b/.test(spawnSync('ip', ['netns', 'exec', ns, 'ss', '-ltnH'], { encoding: 'utf8' }).stdout ?? '');
  for (let i = 0; !listening(); i++) {
    if (i === 100) { srv.kill(); throw new Error(`iperf3 server in ${ns}: not listening after 5 s`); }
    await sleep(50);
  }
  return () => srv.kill();
}

/** TCP from `from` to `toAddr` (in namespace `to`) for `seconds`, the first second omitted (slow start, the bucket's first burst). */
export async function measure(from: string, to: string, toAddr: string, mtu: number, seconds = 4): Promise<Throughput> {
  const stop = await server(to);
  try {
    const r = spawnSync('ip', ['netns', 'exec', from, 'iperf3', '-c', toAddr, '-t', String(seconds), '-O', '1', '-J', ...(hasBbr() ? ['-C', 'bbr'] : [])],
      { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
    if (r.status !== 0) throw new Error(`iperf3 ${from} → ${toAddr}: ${(r.stdout ?? '').slice(0, 400)}${r.stderr ?? ''}`);
    const j = JSON.parse(r.stdout) as { start: { tcp_mss_default: number }; end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    const mss = j.start.tcp_mss_default;
    const goodput = j.end.sum_received.bits_per_second;
    return { goodput, mss, frameRate: (goodput * (mtu + 14)) / mss, retransmits: j.end.sum_sent.retransmits ?? 0 };
  } finally {
    stop();
  }
}
