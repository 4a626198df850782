// Configure: replace the configuration, refusing changes that would strand
// a live or cooling allocation. The guards of every pool and identifier kind
// it checked are compared at commit, so no allocation can slip in between.
import { IncompatibleStateError } from '../errors.js';
import { transact, TxnBuilder, type Entry } from '../store/index.js';
import { configToSpec, parseConfig, rangeText, type IpamConfig, type Pool } from './config.js';
import { txOptions, type OpContext } from './op-context.js';
import { containsPrefix, formatPrefix, parsePrefix } from './prefix.js';
import { BLOCK_FIELDS, CONFIG_KEY, decode, encode, keys, RUN_FIELDS, SET_FIELDS, type BlockRecord, type IdRunRecord, type SetRecord } from './records.js';
import { holdText } from './slice-view.js';
import { IDENTIFIER_KINDS, type IdentifierKind, type IpamConfigSpec } from './types.js';

const expired = (r: { state: string; until?: number }, now: number): boolean => r.state === 'cooldown' && (r.until ?? 0) <= now;

export async function configureOp(ctx: OpContext, spec: IpamConfigSpec, signal?: AbortSignal): Promise<IpamConfigSpec> {
  const { store, cache, clock } = ctx;
  const next = parseConfig(spec);
  const nextSpec = configToSpec(next);
  const text = encode(nextSpec);
  return transact<IpamConfigSpec>(
    store,
    async () => {
      const now = clock.now();
      const configEntry = (await store.read([{ key: CONFIG_KEY }], { signal })).results[0]![0];
      if (configEntry?.value === text) return { done: nextSpec };
      const prev = configEntry ? cache.config(configEntry) : undefined;
      const pools = prev ? changedPools(prev, next) : [];
      const kinds = prev ? IDENTIFIER_KINDS.filter((k) => JSON.stringify(prev.identifiers[k]) !== JSON.stringify(next.identifiers[k])) : [];
      const snap = await store.read(
        [...pools.flatMap((p) => [{ key: keys.blockSet(p.name) }, { prefix: keys.blocksOf(p.name) }]), ...kinds.flatMap((k) => [{ key: keys.idSet(k) }, { prefix: keys.idsOf(k) }])],
        { signal },
      );
      const tb = new TxnBuilder().put(CONFIG_KEY, text, configEntry?.modRevision ?? 0);
      const problems: string[] = [];
      pools.forEach((p, i) => checkPool(p, next, snap.results[2 * i]![0], snap.results[2 * i + 1]!, now, tb, problems));
      kinds.forEach((k, i) => {
        const at = 2 * (pools.length + i);
        checkRanges(k, next, snap.results[at]![0], snap.results[at + 1]!, now, tb, problems);
      });
      if (problems.length > 0) {
        const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? '; …' : '');
        throw new IncompatibleStateError(`ipam config: ${problems.length} change(s) would strand allocations: ${shown}`, { diff: problems });
      }
      return {
        txn: tb.build(),
        result: () => {
          cache.dropAll();
          return nextSpec;
        },
      };
    },
    txOptions(ctx, 'configure ipam', signal),
  );
}

/** Pools removed, or changed in a way their blocks might not survive. */
function changedPools(prev: IpamConfig, next: IpamConfig): Pool[] {
  return prev.pools.filter((p) => {
    const q = next.pools.find((x) => x.name === p.name);
    return !q || q.class !== p.class || formatPrefix(q.prefix) !== formatPrefix(p.prefix);
  });
}

function checkPool(p: Pool, next: IpamConfig, guard: Entry | undefined, records: readonly Entry[], now: number, tb: TxnBuilder, problems: string[]): void {
  const q = next.pools.find((x) => x.name === p.name);
  const stale: Entry[] = [];
  for (const e of records) {
    const r = decode<BlockRecord>(e, BLOCK_FIELDS);
    if (expired(r, now)) stale.push(e);
    else if (!q) problems.push(`pool "${p.name}": cannot remove it: ${holdText(r)}`);
    else if (q.class !== p.class) problems.push(`pool "${p.name}": cannot change class ${p.class} → ${q.class}: ${holdText(r)}`);
    else if (!containsPrefix(q.prefix, parsePrefix(r.prefix, e.key))) problems.push(`pool "${p.name}": cannot change prefix to ${formatPrefix(q.prefix)}: ${holdText(r)}`);
  }
  // Records whose cooldown ran out would outlive their pool: delete them with the change.
  for (const e of stale) tb.delete(e.key, e.modRevision);
  if (stale.length === 0) tb.compare(keys.blockSet(p.name), guard?.modRevision ?? 0);
  else tb.put(keys.blockSet(p.name), encode({ changes: (guard ? decode<SetRecord>(guard, SET_FIELDS).changes : 0) + 1 }), guard?.modRevision ?? 0);
}

function checkRanges(kind: IdentifierKind, next: IpamConfig, guard: Entry | undefined, records: readonly Entry[], now: number, tb: TxnBuilder, problems: string[]): void {
  tb.compare(keys.idSet(kind), guard?.modRevision ?? 0);
  const ranges = next.identifiers[kind];
  for (const e of records) {
    const r = decode<IdRunRecord>(e, RUN_FIELDS);
    if (expired(r, now)) continue;
    const last = r.start + r.count - 1;
    if (!ranges.some((g) => r.start >= g.first && last <= g.last)) {
      problems.push(`${kind}: new ranges ${ranges.map(rangeText).join(', ')} leave out ${rangeText({ first: r.start, last })}: ${holdText(r)}`);
    }
  }
}
