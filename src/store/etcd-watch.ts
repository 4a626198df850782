// Following a prefix of an etcd store from a known revision, without gaps:
// on one member at a time, moved to the next when its stream breaks, resumed
// just after the last revision delivered. When etcd has compacted the
// revisions still to be seen (a long disconnection, or a slow follower) it
// cancels the watch; then the prefix is read again whole (relist) and the
// watch resumes after that read's revision. etcd3's own watcher reconnects
// only to the member it was made on and reports a compaction as an error
// without recovering, hence this, on the raw Watch stream.
import type { Etcd3, IDuplexStream, IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { prefixEnd } from './keys.js';
import type { EtcdMembers } from './etcd-client.js';
import type { Change, Entry, Store, WatchHandlers } from './types.js';

/** What a watch needs of its store (etcd-store.ts). */
export interface WatchSource {
  readonly members: EtcdMembers;
  readonly base: number;
  read: Store['read'];
  etcdKey(key: string): Buffer;
  storeKey(etcdKey: Buffer): string | undefined;
  entry(kv: IKeyValue): Entry;
  anyMember<T>(op: string, fn: (c: Etcd3) => Promise<T>): Promise<T>;
}

export function watchEtcd(store: WatchSource, prefix: string, afterRevision: number, on: WatchHandlers, log: (l: string) => void = () => undefined): { close(): void } {
  let last = afterRevision;
  let closed = false;
  let stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  let attempt = 0;
  const etcdPrefix = store.etcdKey(prefix);
  const end = prefixEnd(etcdPrefix.toString('latin1'));
  const etcdEnd = end === undefined ? Buffer.from([0]) : Buffer.from(end, 'latin1');

  const relist = async (): Promise<void> => {
    const snap = await store.read([{ prefix }]);
    last = snap.revision;
    on.relisted(snap.results[0]!, snap.revision);
  };

  // etcd 3.4 cancels a watch behind its compaction without saying why (the
  // client sees only "canceled"); a read at the last revision seen tells.
  const behindCompaction = async (): Promise<boolean> => {
    try {
      await store.anyMember('compaction check', (c) => c.kv.range({ key: etcdPrefix, revision: store.base + last }));
      return false;
    } catch (e) {
      return /compacted/i.test(String((e as Error).message) + String(((e as Error).cause as Error | undefined)?.message));
    }
  };

  const restart = (why: string, compacted?: boolean): void => {
    const st = stream;
    stream = undefined;
    (st as unknown as { cancel?: () => void } | undefined)?.cancel?.();
    if (closed) return;
    attempt++;
    setTimeout(() => {
      void (compacted !== undefined ? Promise.resolve(compacted) : behindCompaction()).then((c) => {
        log(`watch ${prefix}: ${why}; resuming${c ? ` after a relist (etcd compacted past revision ${last})` : ''}`);
        return start(c);
      });
    }, Math.min(1000, 50 * attempt)).unref();
  };

  const start = async (compacted: boolean): Promise<void> => {
    if (closed) return;
    const order = store.members.order();
    const member = order[attempt % order.length]!;
    try {
      if (compacted) await relist();
      if (closed) return;
      const st = await store.members.clients[member]!.watchClient.watch();
      stream = st;
      const mine = (): boolean => stream === st;
      st.on('error', (e: Error) => { if (mine()) restart(`member ${member + 1}: ${e.message}`); });
      st.on('end', () => { if (mine()) restart(`member ${member + 1} ended the stream`); });
      st.on('data', (res: IWatchResponse) => {
        if (!mine()) return;
        if (res.canceled) {
          restart(`member ${member + 1} cancelled the watch${res.cancel_reason ? ` (${res.cancel_reason})` : ''}`, Number(res.compact_revision) > 0 ? true : undefined);
          return;
        }
        if (!res.events?.length) return;
        const changes: Change[] = [];
        for (const ev of res.events) {
          const key = store.storeKey(ev.kv.key);
          if (key === undefined) continue;
          changes.push({ key, entry: ev.type === 'Put' ? store.entry(ev.kv) : undefined });
        }
        last = Math.max(last, Number(res.events.at(-1)!.kv.mod_revision) - store.base);
        attempt = 0;
        if (changes.length) on.changes(changes, last);
      });
      st.write({ create_request: { key: etcdPrefix, range_end: etcdEnd, start_revision: store.base + last + 1 } });
    } catch (e) {
      restart((e as Error).message);
    }
  };
  void start(false);

  return {
    close() {
      closed = true;
      const st = stream;
      stream = undefined;
      (st as unknown as { cancel?: () => void } | undefined)?.cancel?.();
    },
  };
}
