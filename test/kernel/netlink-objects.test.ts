// Round trips through the real kernel for every netlink object visp uses:
// create, read back (with our decoder and with iproute2's), compare, delete.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePortFlags, setPortFlags } from '../../src/bridge/bridge.js';
import { AF, RTPROT_VISP } from '../../src/netlink/constants.js';
import { addrAdd, addrDel, addrList } from '../../src/netlink/addr.js';
import { linkAdd, linkDel, linkDelGroup, linkGet, linkList, linkSet } from '../../src/netlink/link.js';
import { fdbAppend, fdbDel, neighDel, neighList, neighReplace } from '../../src/netlink/neigh.js';
import { routeDel, routeList, routeReplace } from '../../src/netlink/route.js';
import { NetlinkSocket } from '../../src/netlink/socket.js';
import { KernelError } from '../../src/errors.js';
import { ipIn, ipLink, ipLinks, kernelSkipReason, makeNetns, sh } from '../helpers/netns.js';

describe.skipIf(kernelSkipReason)('netlink objects round-trip through the kernel', () => {
  let ns: string, other: string, s: NetlinkSocket;
  beforeAll(() => { ns = makeNetns('obj'); other = makeNetns('objo'); s = new NetlinkSocket({ netns: ns }); });
  afterAll(() => s?.close());

  it('links: create with every generic attribute, read back, modify, delete; EEXIST is typed', async () => {
    await linkAdd(s, { name: 'rt0', kind: 'veth', mtu: 1400, group: 42, mac: '02:00:00:00:00:01', up: true, peer: { name: 'rt1', mtu: 1400 } });
    await linkSet(s, 'rt0', { alias: 'visp:s/l' });
    const l = (await linkGet(s, 'rt0'))!;
    expect(l).toMatchObject({ name: 'rt0', kind: 'veth', mtu: 1400, group: 42, mac: '02:00:00:00:00:01', alias: 'visp:s/l', up: true });
    expect(ipLink(ns, 'rt0')).toMatchObject({ mtu: 1400, group: '42', address: '02:00:00:00:00:01', ifalias: 'visp:s/l' });
    await linkSet(s, l.index, { name: 'rt0x', mtu: 1300, up: false });
    expect(await linkGet(s, 'rt0')).toBeUndefined();
    expect(await linkGet(s, 'rt0x')).toMatchObject({ mtu: 1300, up: false });
    const err = await linkAdd(s, { name: 'rt1', kind: 'veth', peer: { name: 'rt9' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect(err).toMatchObject({ op: 'linkAdd', object: 'veth rt1', errnoName: 'EEXIST' });
    await linkDel(s, { name: 'rt0x' });
    await linkDel(s, { name: 'rt0x' }); // already gone: success
    expect((await linkList(s)).map((x) => x.name)).toEqual(['lo']);
  });

  it('vxlan attributes round-trip (our decoder and iproute2 agree)', async () => {
    const { drivers } = await import('../../src/tunnel/index.js');
    const spec = { kind: 'vxlan' as const, name: 'vx9', key: 123456, local: '198.18.9.1', remote: '198.18.9.2', dstPort: 4790, ttl: 33 };
    await linkAdd(s, { name: 'vx9', kind: 'vxlan', data: drivers.vxlan.encode(spec) });
    const l = (await linkGet(s, 'vx9'))!;
    expect(drivers.vxlan.decode(l.infoData)).toEqual({ local: spec.local, remote: spec.remote, key: 123456, dstPort: 4790, ttl: 33, learning: false });
    expect(ipLink(ns, 'vx9').linkinfo.info_data).toMatchObject({ id: 123456, local: spec.local, remote: spec.remote, port: 4790, ttl: 33, learning: false });
    await linkDel(s, { index: l.index });
  });

  it('move into another namespace by fd, keeping name, MTU, group and alias', async () => {
    await linkAdd(s, { name: 'mv0', kind: 'veth', mtu: 1280, group: 9, peer: { name: 'mv1' } });
    await linkSet(s, 'mv0', { alias: 'visp:s/mv' });
    const fd = openSync(`/run/netns/${other}`, 'r');
    try { await linkSet(s, (await linkGet(s, 'mv0'))!.index, { netnsFd: fd, name: 'moved0' }); } finally { closeSync(fd); }
    expect(await linkGet(s, 'mv0')).toBeUndefined();
    expect(ipLink(other, 'moved0')).toMatchObject({ mtu: 1280, group: '9', ifalias: 'visp:s/mv' });
    ipIn(other, 'link', 'del', 'moved0');
  });

  it('group delete removes every link of the group and nothing else', async () => {
    for (const i of [1, 2, 3]) await linkAdd(s, { name: `g${i}`, kind: 'bridge', group: 7777 });
    await linkAdd(s, { name: 'keep', kind: 'bridge', group: 7778 });
    await linkDelGroup(s, 7777);
    expect((await linkList(s)).map((l) => l.name).sort()).toEqual(['keep', 'lo']);
    await linkDelGroup(s, 7777); // nothing left in it: success
    await linkDel(s, { name: 'keep' });
  });

  it('addresses v4/v6: add (idempotent), list, delete', async () => {
    await linkAdd(s, { name: 'ad0', kind: 'veth', up: true, peer: { name: 'ad1', up: false } });
    const i = (await linkGet(s, 'ad0'))!.index;
    for (const c of ['192.0.2.10/31', '2001:db8:a::10/127', '203.0.113.1/24']) await addrAdd(s, i, c);
    await addrAdd(s, i, '192.0.2.10/31');
    const mine = (await addrList(s)).filter((a) => a.index === i && !a.address.startsWith('fe80')).map((a) => a.cidr).sort();
    expect(mine).toEqual(['192.0.2.10/31', '2001:db8:a::10/127', '203.0.113.1/24']);
    const fromIp = (JSON.parse(ipIn(ns, '-j', 'addr', 'show', 'dev', 'ad0')) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)[0]!
      .addr_info.map((a) => `${a.local}/${a.prefixlen}`).filter((c) => !c.startsWith('fe80')).sort();
    expect(fromIp).toEqual(mine);
    await addrDel(s, i, '203.0.113.1/24');
    await addrDel(s, i, '203.0.113.1/24'); // already gone: success
    expect((await addrList(s)).some((a) => a.cidr === '203.0.113.1/24')).toBe(false);
  });

  it('routes in the main table and in a per-slice table (ID > 255), v4 and v6, never mixed up', async () => {
    const i = (await linkGet(s, 'ad0'))!.index;
    await routeReplace(s, { dst: '198.51.100.0/24', gateway: '192.0.2.11', table: 1000 });
    await routeReplace(s, { dst: '0.0.0.0/0', gateway: '192.0.2.11', table: 1000 });
    await routeReplace(s, { dst: '2001:db8:b::/48', gateway: '2001:db8:a::11', table: 1000 });
    await routeReplace(s, { dst: '198.51.100.128/25', oif: i });
    await routeReplace(s, { dst: '198.51.100.0/24', gateway: '192.0.2.11', table: 1000, metric: 5 });
    const t1000 = (await routeList(s, AF.INET)).filter((r) => r.table === 1000);
    expect(t1000.map((r) => [r.dst, r.gateway, r.protocol]).sort()).toEqual([
      ['0.0.0.0/0', '192.0.2.11', RTPROT_VISP], ['198.51.100.0/24', '192.0.2.11', RTPROT_VISP], ['198.51.100.0/24', '192.0.2.11', RTPROT_VISP],
    ]);
    expect(sh('ip', ['-n', ns, 'route', 'show', 'table', '1000'])).toMatch(/default via 192\.0\.2\.11 dev ad0 proto 201/);
    expect(sh('ip', ['-n', ns, 'route', 'show', 'table', 'main'])).not.toMatch(/default/);
    expect((await routeList(s, AF.INET6)).find((r) => r.table === 1000 && r.dst === '2001:db8:b::/48')?.gateway).toBe('2001:db8:a::11');
    await routeDel(s, { dst: '0.0.0.0/0', gateway: '192.0.2.11', table: 1000 });
    await routeDel(s, { dst: '0.0.0.0/0', gateway: '192.0.2.11', table: 1000 }); // gone: success
    expect((await routeList(s, AF.INET)).some((r) => r.table === 1000 && r.dst === '0.0.0.0/0')).toBe(false);
    // Named by destination alone (no gateway): the gateway route goes too, as with `ip route del`.
    await routeDel(s, { dst: '2001:db8:b::/48', table: 1000 });
    expect((await routeList(s, AF.INET6)).some((r) => r.table === 1000 && r.dst === '2001:db8:b::/48')).toBe(false);
    await routeReplace(s, { dst: '203.0.113.0/24', gateway: '192.0.2.11', table: 1000 });
    await routeDel(s, { dst: '203.0.113.0/24', table: 1000 });
    expect(sh('ip', ['-n', ns, 'route', 'show', 'table', '1000'])).not.toMatch(/203\.0\.113/);
  });

  it('neighbours: permanent entry replace, list, delete', async () => {
    const i = (await linkGet(s, 'ad0'))!.index;
    await neighReplace(s, { index: i, dst: '192.0.2.11', mac: '02:00:00:00:00:11' });
    await neighReplace(s, { index: i, dst: '192.0.2.11', mac: '02:00:00:00:00:12' });
    const n = (await neighList(s, AF.INET)).find((x) => x.dst === '192.0.2.11')!;
    expect(n).toMatchObject({ index: i, mac: '02:00:00:00:00:12' });
    expect(ipIn(ns, 'neigh', 'show', 'dev', 'ad0')).toMatch(/192\.0\.2\.11 lladdr 02:00:00:00:00:12 PERMANENT/);
    await neighDel(s, { index: i, dst: '192.0.2.11' });
    await neighDel(s, { index: i, dst: '192.0.2.11' });
    expect((await neighList(s, AF.INET)).some((x) => x.dst === '192.0.2.11')).toBe(false);
  });

  it('VXLAN FDB: head-end replication entries append, list and delete one by one', async () => {
    const { drivers } = await import('../../src/tunnel/index.js');
    await linkAdd(s, { name: 'her0', kind: 'vxlan', data: drivers.vxlan.encode({ kind: 'vxlan', name: 'her0', key: 9, local: '198.18.9.1' }) });
    const i = (await linkGet(s, 'her0'))!.index;
    for (const dst of ['198.18.9.2', '198.18.9.3', '198.18.9.3']) await fdbAppend(s, { index: i, mac: '00:00:00:00:00:00', dst });
    const dsts = (await neighList(s, AF.BRIDGE)).filter((n) => n.index === i && n.mac === '00:00:00:00:00:00').map((n) => n.dst).sort();
    expect(dsts).toEqual(['198.18.9.2', '198.18.9.3']);
    expect(sh('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'her0'])).toMatch(/00:00:00:00:00:00 dst 198\.18\.9\.2 self permanent/);
    await fdbDel(s, { index: i, mac: '00:00:00:00:00:00', dst: '198.18.9.2' });
    await fdbDel(s, { index: i, mac: '00:00:00:00:00:00', dst: '198.18.9.2' });
    expect((await neighList(s, AF.BRIDGE)).filter((n) => n.index === i && n.mac === '00:00:00:00:00:00').map((n) => n.dst)).toEqual(['198.18.9.3']);
    await linkDel(s, { index: i });
  });

  it('bridge port flags: isolated and learning set, read back by us and by iproute2', async () => {
    await linkAdd(s, { name: 'pb0', kind: 'bridge' });
    const br = (await linkGet(s, 'pb0'))!.index;
    await linkAdd(s, { name: 'pp0', kind: 'veth', master: br, peer: { name: 'pp1' } });
    await setPortFlags(s, 'pp0', { isolated: true, learning: false });
    expect(decodePortFlags((await linkGet(s, 'pp0'))!.slaveData)).toEqual({ isolated: true, learning: false });
    expect(ipLink(ns, 'pp0').linkinfo.info_slave_data).toMatchObject({ isolated: true, learning: false });
    await setPortFlags(s, 'pp0', { isolated: false, learning: true });
    expect(decodePortFlags((await linkGet(s, 'pp0'))!.slaveData)).toEqual({ isolated: false, learning: true });
    await linkDel(s, { name: 'pp0' });
    await linkDel(s, { name: 'pb0' });
  });

  it('link statistics count real packets', async () => {
    await linkSet(s, 'ad1', { up: true }); // carrier
    // A permanent neighbour so the echo requests leave at once (nobody answers them).
    await neighReplace(s, { index: (await linkGet(s, 'ad0'))!.index, dst: '192.0.2.11', mac: '02:00:00:00:00:11' });
    spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-I', 'ad0', '192.0.2.11']);
    const l = (await linkList(s, { stats: true })).find((x) => x.name === 'ad0')!;
    expect(l.stats!.txPackets).toBeGreaterThanOrEqual(3);
    const ipStats = (JSON.parse(ipIn(ns, '-s', '-j', 'link', 'show', 'dev', 'ad0')) as Array<{ stats64: { tx: { packets: number } } }>)[0]!;
    expect(Math.abs(ipStats.stats64.tx.packets - l.stats!.txPackets)).toBeLessThanOrEqual(2);
    await linkDel(s, { name: 'ad0' });
    expect(ipLinks(ns).map((x) => x.ifname)).toEqual(['lo']);
  });
});
