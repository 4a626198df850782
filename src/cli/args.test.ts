import { describe, expect, it } from 'vitest';
import { command, duration, groupUsageText, HelpRequest, parse, usageText, UsageError } from './args.js';
import { cell, count, table } from './tables.js';

const opts = { node: { type: 'string' }, json: { type: 'boolean' } } as const;

describe('parse: flag mistakes are one line naming the flag', () => {
  const cases: Array<{ args: string[]; want: RegExp | { node?: string; json?: boolean; positionals?: string[] } }> = [
    { args: ['--node', 'n1', '--json'], want: { node: 'n1', json: true, positionals: [] } },
    { args: ['--node=n2', 'x'], want: { node: 'n2', positionals: ['x'] } },
    { args: ['--nod', 'n1'], want: /^tunnels: unknown flag --nod \(flags: --node, --json\)$/ },
    { args: ['-x'], want: /^tunnels: unknown flag -x / },
    { args: ['--node'], want: /^tunnels: flag --node needs a value$/ },
    { args: ['--json=yes'], want: /^tunnels: flag --json takes no value$/ },
    { args: ['a', 'b'], want: /^tunnels: unexpected argument "b"$/ },
  ];
  for (const c of cases) {
    it(c.args.join(' '), () => {
      if (c.want instanceof RegExp) {
        let err: unknown;
        try { parse('tunnels', c.args, opts, 1); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(UsageError);
        expect((err as Error).message).toMatch(c.want);
      } else {
        const r = parse('tunnels', c.args, opts, 1);
        expect(r.values.node).toBe(c.want.node);
        expect(r.values.json).toBe(c.want.json);
        expect(r.positionals).toEqual(c.want.positionals);
      }
    });
  }
});

describe('declared commands: one declaration for parsing and for --help', () => {
  const spec = command({
    name: 'lab up', args: 'FILE', positionals: 1, summary: 'start a lab',
    flags: { name: { type: 'string', value: 'N', help: 'the lab\'s name' }, json: { type: 'boolean', help: 'JSON' }, tag: { type: 'string', multiple: true, help: 'a tag' } },
    notes: 'Needs root.',
  });
  it('parses', () => {
    const r = parse(spec, ['f.yaml', '--name', 'x', '--tag', 'a', '--tag', 'b']);
    expect(r.values).toEqual({ name: 'x', tag: ['a', 'b'] });
    expect(r.positionals).toEqual(['f.yaml']);
    expect(() => parse(spec, ['a', 'b'])).toThrow(/^lab up: unexpected argument "b"$/);
  });
  it('--help or -h anywhere before "--" is a HelpRequest with the usage', () => {
    for (const args of [['--help'], ['f.yaml', '-h'], ['--name', 'x', '--bogus', '--help']]) {
      let err: unknown;
      try { parse(spec, args); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(HelpRequest);
      expect((err as HelpRequest).text).toBe(usageText(spec));
    }
    expect(parse(spec, ['--', '--help']).positionals).toEqual(['--help']);
  });
  it('usage text', () => {
    expect(usageText(spec)).toBe([
      'usage: visp lab up FILE [flags]', '', 'start a lab', '', 'flags:',
      '  --name N     the lab\'s name',
      '  --json       JSON',
      '  --tag VALUE  a tag (may be repeated)',
      '  -h, --help   this help',
      '', 'Needs root.',
    ].join('\n'));
    expect(groupUsageText({ name: 'lab', summary: 'labs', subcommands: [spec, command({ name: 'lab down', args: '[NAME]', summary: 'stop it', flags: {} })] })).toBe([
      'usage: visp lab up|down …', '', 'labs', '', 'subcommands (visp lab SUBCOMMAND --help for each one\'s flags):',
      '  up FILE      start a lab',
      '  down [NAME]  stop it',
    ].join('\n'));
  });
});

describe('duration', () => {
  const cases: Array<[string, number | RegExp]> = [
    ['90', 90_000], ['90s', 90_000], ['1.5m', 90_000], ['8h', 8 * 3600_000], ['2d', 2 * 86_400_000], ['250ms', 250],
    ['', /not a duration/], ['5 minutes', /flag --timeout: "5 minutes" is not a duration/], ['-1s', /not a duration/], ['0s', /not a duration/],
  ];
  for (const [text, want] of cases) {
    it(JSON.stringify(text), () => {
      if (typeof want === 'number') expect(duration('timeout', text)).toBe(want);
      else expect(() => duration('timeout', text)).toThrow(want);
    });
  }
});

it('duration: a flag may read a bare number in milliseconds', () => {
  expect(duration('reconcile-interval', '500', 'ms')).toBe(500);
  expect(duration('reconcile-interval', '2s', 'ms')).toBe(2000);
});

describe('tables', () => {
  it('aligns columns, upper-cases the header, "-" for nothing, lists joined', () => {
    expect(table(['a', 'bb', 'c'], [['x', undefined, ['1', '2']], ['long', true, 3]])).toBe(
      'A     BB   C\nx     -    1,2\nlong  yes  3');
  });
  it('cells and counts', () => {
    expect([cell(''), cell([]), cell(false), cell(0)]).toEqual(['-', '-', 'no', '0']);
    expect([count(999), count(1234), count(56_789), count(12_345_678)]).toEqual(['999', '1.2k', '57k', '12M']);
  });
});
