// The field readers every converter is built from: a value of the wrong type
// is refused naming the field (InvalidSpecError by default, or through the
// Refuse given), never a TypeError; absent reads as proto3's default.
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import { expectRefused } from '../../test/helpers/refused.js';
import { badOutput, count, count64, flag, list, message, required, text, texts } from './fields.js';

describe('field readers', () => {
  it.each<[string, () => unknown, unknown]>([
    ['text', () => text('a', 'f'), 'a'],
    ['absent text', () => text(null, 'f'), ''],
    ['uint32', () => count(0xffffffff, 'f'), 0xffffffff],
    ['absent uint32', () => count(undefined, 'f'), 0],
    ['uint64 past 32 bits (a generation: a time in ms)', () => count64(Date.UTC(2030, 0, 1), 'f'), Date.UTC(2030, 0, 1)],
    ['absent uint64', () => count64(null, 'f'), 0],
    ['bool', () => flag(true, 'f'), true],
    ['absent message', () => message(null, 'f'), undefined],
    ['absent list', () => list(undefined, 'f', text), []],
    ['strings', () => texts(['a', 'b'], 'f'), ['a', 'b']],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string]>([
    ['a number for text', () => text(1, 'f'), 'f'],
    ['uint32 past 32 bits', () => count(2 ** 32, 'f'), 'f'],
    ['a negative uint32', () => count(-1, 'f'), 'f'],
    ['a fraction for uint32', () => count(1.5, 'f'), 'f'],
    ['a string for uint64', () => count64('5', 'f'), 'f'],
    ['a negative uint64', () => count64(-1, 'f'), 'f'],
    ['a fraction for uint64', () => count64(0.5, 'f'), 'f'],
    ['infinity for uint64', () => count64(Infinity, 'f'), 'f'],
    ['a string for bool', () => flag('true', 'f'), 'f'],
    ['a list for a message', () => message([], 'f'), 'f'],
    ['a missing required message', () => required(undefined, 'f'), 'f'],
    ['a string for a list', () => list('a', 'f', text), 'f'],
    ['a number in a list (the index names it)', () => texts(['a', 2], 'f'), 'f[1]'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, InvalidSpecError, field));

  it('into a message, refuses through badOutput', () => expectRefused(() => count64(-1, 'generation', badOutput), IncompatibleStateError, 'generation', /cannot be sent/));
});
