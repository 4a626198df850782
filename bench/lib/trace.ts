// Bench-only instrumentation for the lab's processes (--trace): wraps
// methods to log when they ran, and logs event-loop stalls. It changes no
// behaviour. Lines read "trace NAME ARGS start T end T" or "trace NAME ARGS
// at T", T in epoch milliseconds; bench/lab.ts parses them.

export const epochMs = (): string => (performance.timeOrigin + performance.now()).toFixed(1);

/** Log every call of proto[name] (sync or async) with `what(args)`. */
export function traceMethod<C extends object>(proto: C, name: string, what: (args: unknown[]) => string, log: (l: string) => void): void {
  const orig = (proto as Record<string, unknown>)[name] as (...a: unknown[]) => unknown;
  if (typeof orig !== 'function') throw new Error(`trace: no method ${name}`);
  (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
    const start = epochMs();
    const r = orig.apply(this, args);
    if (r instanceof Promise) return r.finally(() => log(`trace ${name} ${what(args)} start ${start} end ${epochMs()}`));
    log(`trace ${name} ${what(args)} start ${start} end ${epochMs()}`);
    return r;
  };
}

/** Log when the event loop was blocked for more than `thresholdMs` (checked every 10 ms). */
export function traceStalls(log: (l: string) => void, thresholdMs = 50): void {
  let last = performance.now();
  setInterval(() => {
    const t = performance.now();
    const late = t - last - 10;
    if (late > thresholdMs) log(`trace stall ${late.toFixed(0)} start ${(performance.timeOrigin + last + 10).toFixed(1)} end ${(performance.timeOrigin + t).toFixed(1)}`);
    last = t;
  }, 10).unref();
}
