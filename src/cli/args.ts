// Flags with node:util parseArgs; every mistake becomes one line that names
// the flag (UsageError → "visp: …", exit status 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<O extends Options> {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };
  positionals: string[];
}

/**
 * Parse `args` for `command` (e.g. "visp tunnels"). `positionals` is the
 * most positional arguments allowed.
 */
export function parse<O extends Options>(command: string, args: string[], options: O, positionals = 0): Parsed<O> {
  let r;
  try {
    r = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${explain(e as Error & { code?: string }, options)}`);
  }
  if (r.positionals.length > positionals) {
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(r.positionals[positionals])}`);
  }
  return r as unknown as Parsed<O>;
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

/** "90s", "15m", "8h", "2d", or plain seconds → milliseconds. */
export function duration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`flag --${flag}: ${JSON.stringify(text)} is not a duration (e.g. 90s, 15m, 8h, 2d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`flag --${flag}: ${JSON.stringify(text)} is not a positive whole number`);
  return n;
}
