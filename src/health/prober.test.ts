// The prober on a real kernel, two namespaces joined by two veth pairs (two
// "links" between the same two underlay addresses): an answer counts only
// for a pair probed over the device it arrived on. The far end answers on
// the first link only; answers forged on that link for the second link's
// pair (its ids are small and sequential, its seqs too) must not make the
// second link look alive.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkWatcher } from '../netlink/events.js';
import { addr16, ProbeSocket, PROBE_FRAME_LEN, requestFrame } from '../netlink/packet.js';
import { HealthProber, type ProbeTarget } from './prober.js';

const tag = `${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
const A = `visp-pa-${tag}`, B = `visp-pb-${tag}`;
const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'pipe' }); };
const ifindex = (ns: string, dev: string): number => JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', dev], { encoding: 'utf8' }))[0].ifindex as number;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('health prober: answers by device', () => {
  beforeAll(() => {
    ip('netns', 'add', A); ip('netns', 'add', B);
    for (const n of ['1', '2']) {
      ip('-n', A, 'link', 'add', `a${n}`, 'type', 'veth', 'peer', 'name', `b${n}`, 'netns', B);
      ip('-n', A, 'link', 'set', `a${n}`, 'up'); ip('-n', B, 'link', 'set', `b${n}`, 'up');
    }
  });
  afterAll(() => { ip('netns', 'del', A); ip('netns', 'del', B); });

  it('an answer on one link does not count for a pair probed over another', async () => {
    const local = '198.18.0.1', remote = '198.18.0.2';
    const answerer = new ProbeSocket({ netns: B, ifindex: ifindex(B, 'b1'), local: remote, onAnswers: () => undefined });
    const p = new HealthProber({ netns: A, health: { intervalMs: 50, downAfterMs: 400, startupMs: 400, answerTimeoutMs: 300, windowMs: 2000 } });
    const targets: ProbeTarget[] = [
      { key: 's/l1', local, what: 'veth 1', pairs: [{ remote, device: 'a1' }] },
      { key: 's/l2', local, what: 'veth 2', pairs: [{ remote, device: 'a2' }] },
    ];
    try {
      await p.setTargets(targets);
      // Forged answers on link 1 for every small pair id and recent seq.
      const forge = setInterval(() => {
        for (let id = 1; id <= 4; id++) {
          for (let seq = 1; seq <= 40; seq++) {
            const f = requestFrame(remote, remote, id);
            f[18] = 2;
            addr16(local).copy(f, 22);
            f.writeUInt32LE(seq, 58);
            expect(f.length).toBe(PROBE_FRAME_LEN);
            answerer.send(f);
          }
        }
      }, 50);
      await sleep(1200);
      clearInterval(forge);
      const l1 = p.health('s/l1')!.pairs[0]!, l2 = p.health('s/l2')!.pairs[0]!;
      expect(l1.answered).toBeGreaterThan(0);
      expect(l1.alive).toBe(true);
      expect(l2.answered).toBe(0);
      expect(l2.alive).toBe(false);
    } finally {
      p.close();
      answerer.close();
    }
  });

  it('takes the devices from the link watcher while it is current: no dump per pass; a device recreated under its name gets a socket on the new one', async () => {
    const w = new LinkWatcher({ netns: A });
    await w.start();
    const p = new HealthProber({ netns: A, links: () => w, guardCheckMs: 3_600_000 });
    const targets: ProbeTarget[] = [{ key: 's/l2', local: '198.18.0.1', what: 'veth 2', pairs: [{ remote: '198.18.0.2', device: 'a2' }] }];
    try {
      for (let i = 0; i < 5; i++) await p.setTargets(targets);
      expect(p.dumps).toBe(0);
      expect(p.probedDevices()).toEqual(new Map([['a2', ifindex(A, 'a2')]]));
      ip('-n', A, 'link', 'del', 'a2');
      ip('-n', A, 'link', 'add', 'a2', 'type', 'veth', 'peer', 'name', 'b2', 'netns', B);
      // At once (its notifications maybe not read yet: then a dump), and after.
      await p.setTargets(targets);
      await sleep(100);
      await p.setTargets(targets);
      expect(p.probedDevices()).toEqual(new Map([['a2', ifindex(A, 'a2')]]));
    } finally {
      p.close();
      w.close();
    }
  });
});
