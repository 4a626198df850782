// A benchmark's command line: `--flag` and `--flag VALUE` options, one
// handler per flag, so each bench says only what its options mean.

/** The argument after an option, taken by its handler (at most once). */
export interface OptionValue {
  /** An integer ≥ min (default 1). */
  int(min?: number): number;
  /** Comma-separated integers, each ≥ min (default 1). */
  ints(min?: number): number[];
  /** The argument as it is; an error if there is none. */
  text(): string;
}

/**
 * Runs `handlers[flag]` for each option in `argv`, in order. A flag without a
 * value ignores its `OptionValue`; an unknown flag is an error that names the
 * known ones.
 */
export function parseOptions(argv: readonly string[], handlers: Readonly<Record<string, (v: OptionValue) => void>>): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const handler = Object.hasOwn(handlers, flag) ? handlers[flag] : undefined;
    if (!handler) throw new Error(`unknown option ${flag} (have ${Object.keys(handlers).join(', ')})`);
    const int = (s: string | undefined, min: number): number => {
      const x = Number(s);
      if (s === undefined || s === '' || !Number.isInteger(x) || x < min) throw new Error(`${flag} needs an integer ≥ ${min}, got ${s}`);
      return x;
    };
    const text = (): string => {
      const s = argv[++i];
      if (s === undefined) throw new Error(`${flag} needs a value`);
      return s;
    };
    handler({
      int: (min = 1) => int(text(), min),
      ints: (min = 1) => text().split(',').map((s) => int(s, min)),
      text,
    });
  }
}
