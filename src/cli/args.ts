// Commands and their flags. Each command declares itself once — synopsis,
// one-line summary, flags with their help — next to the code that runs it;
// `visp COMMAND --help` prints that (usageText), and parse() reads flags
// with node:util parseArgs from the same declaration. Every mistake becomes
// one line that names the flag (UsageError → "visp: …", exit status 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DURATION_EXAMPLES, parseDuration, type DurationUnit } from '../config/duration.js';

export class UsageError extends Error {}

/** `--help` was asked for: main prints `text` to stdout and exits 0. */
export class HelpRequest extends Error {
  constructor(readonly text: string) { super('help'); }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Flag {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The value's placeholder in help, e.g. "ADDR". */
  value?: string;
  help: string;
}
export type Flags = Record<string, Flag>;

export interface CommandSpec<F extends Flags = Flags> {
  /** As typed after "visp": "tunnels", "lab up". */
  name: string;
  /** Positional arguments in the synopsis, e.g. "FILE" or "[NAME]". */
  args?: string;
  /** How many positional arguments are allowed (default 0). */
  positionals?: number;
  /** What the command does, in one line. */
  summary: string;
  flags: F;
  /** Text after the flags (defaults, where to read more). */
  notes?: string;
}

/** A command with subcommands (`visp lab`, `visp egress`): its help lists theirs. */
export interface GroupSpec { name: string; summary: string; subcommands: readonly CommandSpec<Flags>[] }

export const command = <F extends Flags>(spec: CommandSpec<F>): CommandSpec<F> => spec;

type Value<T> = T extends { multiple: true } ? (T extends { type: 'boolean' } ? boolean[] : string[]) : T extends { type: 'boolean' } ? boolean : string;

export interface Parsed<O> {
  values: { [K in keyof O]?: Value<O[K]> };
  positionals: string[];
}

const HELP_FLAGS = ['--help', '-h'];

/**
 * Parse `args` for a declared command; `--help` (or -h) anywhere before "--"
 * throws a HelpRequest with its usage. The older form (a name, parseArgs
 * options, the most positionals allowed) has no help of its own.
 */
export function parse<F extends Flags>(spec: CommandSpec<F>, args: string[]): Parsed<F>;
export function parse<O extends Options>(command: string, args: string[], options: O, positionals?: number): Parsed<O>;
export function parse(spec: string | CommandSpec, args: string[], options?: Options, positionals = 0): Parsed<Options> {
  if (typeof spec !== 'string') {
    const end = args.indexOf('--');
    if ((end < 0 ? args : args.slice(0, end)).some((a) => HELP_FLAGS.includes(a))) throw new HelpRequest(usageText(spec));
    return parseWith(spec.name, args, flagOptions(spec.flags), spec.positionals ?? 0);
  }
  return parseWith(spec, args, options ?? {}, positionals);
}

function flagOptions(flags: Flags): Options {
  return Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, { type: f.type, ...(f.multiple ? { multiple: true } : {}) }]));
}

function parseWith(command: string, args: string[], options: Options, positionals: number): Parsed<Options> {
  let r;
  try {
    r = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${explain(e as Error & { code?: string }, options)}`);
  }
  if (r.positionals.length > positionals) {
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(r.positionals[positionals])}`);
  }
  return r as unknown as Parsed<Options>;
}

function explain(e: Error & { code?: string }, options: Options): string {
  const flag = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1];
  const known = Object.keys(options).map((o) => `--${o}`).join(', ');
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? ''}${known ? ` (flags: ${known})` : ' (this command takes no flags)'}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(e.message) ? `flag ${flag ?? ''} needs a value` : `flag ${flag ?? ''} takes no value`;
    default:
      return e.message.split('\n')[0]!;
  }
}

// ---- help ----

/** `visp NAME --help`: synopsis, summary, every flag. */
export function usageText(spec: CommandSpec<Flags>): string {
  const flags = Object.entries(spec.flags);
  const lines = [`usage: visp ${spec.name}${spec.args ? ` ${spec.args}` : ''}${flags.length ? ' [flags]' : ''}`, '', spec.summary];
  const rows: Array<readonly [string, string]> = flags.map(([k, f]) => [`--${k}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`, `${f.help}${f.multiple ? ' (may be repeated)' : ''}`] as const);
  rows.push(['-h, --help', 'this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  lines.push('', 'flags:', ...rows.map(([l, h]) => `  ${l.padEnd(width)}${h}`));
  if (spec.notes) lines.push('', spec.notes);
  return lines.join('\n');
}

/** `visp NAME --help` for a command with subcommands. */
export function groupUsageText(g: GroupSpec): string {
  const subs = g.subcommands.map((s) => {
    const sub = s.name.slice(g.name.length + 1);
    return [`${sub}${s.args ? ` ${s.args}` : ''}`, s.summary] as const;
  });
  const width = Math.max(...subs.map(([l]) => l.length)) + 2;
  return [
    `usage: visp ${g.name} ${g.subcommands.map((s) => s.name.slice(g.name.length + 1)).join('|')} …`, '', g.summary, '',
    `subcommands (visp ${g.name} SUBCOMMAND --help for each one's flags):`,
    ...subs.map(([l, h]) => `  ${l.padEnd(width)}${h}`),
  ].join('\n');
}

// ---- values ----

/**
 * "90s", "15m", "8h", "2d", "250ms" → milliseconds; a bare number is read in
 * `bare` (seconds unless the flag says otherwise).
 */
export function duration(flag: string, text: string, bare: DurationUnit = 's'): number {
  const ms = parseDuration(text, bare);
  if (ms === undefined || ms <= 0) throw new UsageError(`flag --${flag}: ${JSON.stringify(text)} is not a duration (e.g. ${DURATION_EXAMPLES})`);
  return ms;
}

export function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`flag --${flag}: ${JSON.stringify(text)} is not a positive whole number`);
  return n;
}
