// Picks how each link of a request is carried: its first choice whose
// underlay pairs (see UnderlayPairsSpec) are all free, taking them from the
// pair indices; or the refusal, which gives every choice's reason. A pair is
// blocked by an earlier link of this request (the request can never be
// met as it is: INVALID_ARGUMENT, naming that link), by another slice (never
// named: it may be another tenant's; FAILED_PRECONDITION) or by a cooldown
// (FAILED_PRECONDITION, saying when the first choice frees).

import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import type { PairIndex } from './pair-index.js';
import { keys, type Pair, type PairRecord } from './records.js';
import type { ChoiceRequest, LinkRequest, SliceRequest } from './request.js';
import { coolingText } from './slice-view.js';

export interface Chosen {
  /** Index into the link's choices. */
  readonly index: number;
  readonly choice: ChoiceRequest;
}

export interface PlannedPairs {
  readonly index: PairIndex;
  readonly records: readonly PairRecord[];
}

type Block = { why: 'own'; link: string } | { why: 'other' } | { why: 'cooling'; until: number };

/** Each link's choice; the pairs taken go into `planned`, one entry per space. */
export function chooseAll(request: SliceRequest, indices: ReadonlyMap<string, PairIndex>, now: number): { chosen: Chosen[]; planned: PlannedPairs[] } {
  const takenBy = new Map<string, string>(); // pair key → link of this request
  const records = new Map<PairIndex, PairRecord[]>();
  const chosen = request.links.map((l): Chosen => {
    const refusals: Array<Array<{ pair: Pair; block: Block; space: string }>> = [];
    for (const [index, choice] of l.choices.entries()) {
      if (!choice.pairs) return { index, choice };
      const { space, pairs } = choice.pairs;
      const idx = indices.get(space)!;
      const blocked = pairs.flatMap((pair) => {
        const key = keys.pair(space, pair);
        return idx.taken(key) ? [{ pair, space, block: blockOf(idx, key, takenBy) }] : [];
      });
      if (blocked.length === 0) {
        const mine = records.get(idx) ?? [];
        records.set(idx, mine);
        for (const pair of pairs) {
          const key = keys.pair(space, pair);
          idx.take(key);
          takenBy.set(key, l.name);
          mine.push({ space, ...pair, slice: request.slice, link: l.name, state: 'live' });
        }
        return { index, choice };
      }
      refusals.push(blocked);
    }
    throw refusal(l, refusals, now);
  });
  return { chosen, planned: [...records].map(([index, recs]) => ({ index, records: recs })) };
}

function blockOf(idx: PairIndex, key: string, takenBy: ReadonlyMap<string, string>): Block {
  const link = takenBy.get(key);
  if (link !== undefined) return { why: 'own', link };
  const held = idx.holds.byKey.get(key);
  return held?.record.state === 'cooldown' ? { why: 'cooling', until: held.record.until ?? 0 } : { why: 'other' };
}

const SHOWN = 3;

function refusal(l: LinkRequest, refusals: ReadonlyArray<ReadonlyArray<{ pair: Pair; block: Block; space: string }>>, now: number): Error {
  const field = l.choiceField;
  const text = refusals.map((blocked) => {
    const shown = blocked.slice(0, SHOWN).map(({ pair, block, space }) => {
      const what = `${space} between ${pair.a} and ${pair.b}`;
      if (block.why === 'own') return `${what} is already used by link "${block.link}" of this slice`;
      if (block.why === 'other') return `${what} is taken by another slice`;
      return `${what} is ${coolingText(block.until, now)} after a slice released it`;
    });
    return shown.join('; ') + (blocked.length > SHOWN ? `; and ${blocked.length - SHOWN} more of its pairs` : '');
  }).join('; ');
  const message = `${field}: ${text}`;
  if (refusals.every((blocked) => blocked.every((b) => b.block.why === 'own'))) return new InvalidSpecError(message, { field });
  // A choice blocked only by cooldowns is free once the last of them ends; the first such choice decides.
  const frees = refusals
    .filter((blocked) => blocked.every((b) => b.block.why === 'cooling'))
    .map((blocked) => blocked.reduce((t, b) => Math.max(t, b.block.why === 'cooling' ? b.block.until : 0), 0));
  if (frees.length === 0) return new IncompatibleStateError(message, { field });
  const freesAt = frees.reduce((a, b) => Math.min(a, b));
  return new IncompatibleStateError(message, { field, freesAt, retryAfterMs: freesAt - now });
}
