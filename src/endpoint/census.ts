// The host's named network namespaces as every node kernel of this process
// sees them: names, identities and visp marks. Namespaces are the host's,
// not a node's, so in a process that runs many node agents (lab mode's agent
// host, src/lab/agent-host.ts) one read serves them all: the list is re-read
// only when /run/netns changed (its mtime: a name added or removed) or a
// name was not yet a mounted namespace when last read, and a namespace's
// mark is read once per identity (a new namespace under an old name is read
// again). Without sharing, each of N agents would stat all N namespaces and
// open a socket into each new one on every pass: N² work for the lab.
import { statSync } from 'node:fs';
import { linkGet } from '../netlink/link.js';
import { netnsList } from '../netlink/netns.js';
import { netnsPath, NetlinkSocket } from '../netlink/socket.js';
import { parseNetnsMark } from '../ownership.js';

/** A namespace's identity (device and inode of its nsfs file): two names, or a name and /proc/…/ns/net, for one namespace share it. */
export function nsId(path: string): string | undefined {
  try { const st = statSync(path); return `${st.dev}:${st.ino}`; } catch { return undefined; }
}

export interface NamespaceMark { id: string; visp: boolean }

/** Per namespace name, whether its identity was seen to carry a visp mark. */
export const namespaceMarks = new Map<string, NamespaceMark>();

let last: { dir: string; entries: Array<{ name: string; id: string }> } | undefined;

/** The directory's change stamp: a name added or removed changes it. */
function dirStamp(): string {
  try { const st = statSync('/run/netns'); return `${st.ino}:${st.mtimeMs}:${st.ctimeMs}`; } catch { return 'none'; }
}

/** The device of nsfs: a name whose file is on another device is not (yet) a mounted namespace. */
const nsfsDev = (): number | undefined => { try { return statSync('/proc/self/ns/net').dev; } catch { return undefined; } };

/** Every named namespace with its identity (read again only when /run/netns changed); forgets the marks of names that are gone. */
export function namespaceCensus(): Array<{ name: string; id: string }> {
  const dir = dirStamp();
  if (last && last.dir === dir) return last.entries;
  const entries: Array<{ name: string; id: string }> = [];
  const dev = nsfsDev();
  // A namespace is made by creating the file, then bind-mounting the namespace on
  // it (`ip netns add`, and netnsCreate in the same order): between the two the
  // name is a plain file, and reading it then must not be cached.
  let settled = true;
  for (const name of netnsList()) {
    let st;
    try { st = statSync(netnsPath(name)); } catch { continue; }   // gone meanwhile
    if (dev !== undefined && st.dev !== dev) { settled = false; continue; }
    entries.push({ name, id: `${st.dev}:${st.ino}` });
  }
  const present = new Set(entries.map((e) => e.name));
  for (const name of [...namespaceMarks.keys()]) if (!present.has(name)) namespaceMarks.delete(name);
  last = settled ? { dir, entries } : undefined;
  return entries;
}

/** The next census reads /run/netns again (a namespace was just created or deleted here). */
export function censusChanged(): void {
  last = undefined;
}

const reading = new Map<string, Promise<NamespaceMark>>();

/** Whether the namespace `name` (identity `id`) carries a visp mark: its loopback's alias, one request; concurrent callers share it. */
export function readMark(name: string, id: string, signal?: AbortSignal): Promise<NamespaceMark> {
  const k = `${name}\0${id}`;
  let p = reading.get(k);
  if (!p) {
    p = (async () => {
      const s = new NetlinkSocket({ netns: name });
      try {
        return { id, visp: !!parseNetnsMark((await linkGet(s, 'lo', signal))?.alias) };
      } catch {
        return { id, visp: false };   // not a namespace we can enter: not usable either
      } finally {
        s.close();
      }
    })().finally(() => reading.delete(k));
    reading.set(k, p);
  }
  return p;
}
