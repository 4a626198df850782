// Logging. The daemons (`visp controller`, `visp agent`) write JSON lines
// with pino: `level`, `time`, `component`, and where they apply `slice`,
// `link`, `node` and `requestId`; on a terminal the same records are shown
// by pino-pretty as readable lines instead. docs/operations.md, "Logs".
//
// Below the daemons, modules take a LogFn: a line of text plus optional
// fields. A daemon hands them one that writes a pino record; a test hands
// one that keeps the text. So a module never depends on how its lines end
// up, and its fields are what makes them searchable.
//
// A request id follows one gRPC call: the API edge runs the call inside
// withRequest(), every record written meanwhile (also by work the call
// started: a desired state pushed to an agent) carries it, and the push
// carries it to the agent, whose records about applying that state carry
// it too.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/** What a record may say besides its text. */
export interface LogFields {
  level?: Level;
  /** Which part of the daemon wrote it (tls, web, bgp, reconcile, rpc…). */
  component?: string;
  slice?: string;
  link?: string;
  node?: string;
  requestId?: string;
  /** Anything else worth a field of its own (a method, a status code, a duration). */
  [key: string]: unknown;
}

/** A module's way to log: the text, and fields when it has them. Callers may ignore the fields. */
export type LogFn = (line: string, fields?: LogFields) => void;

interface RequestContext { requestId: string }
const requests = new AsyncLocalStorage<RequestContext>();

/** A new request id: 16 hex digits, short enough to grep, unique enough per controller. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

/** A request id someone else chose (a client's metadata) is used only if it is this plain. */
export const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Runs fn with `requestId` as the current request: records written by fn and what it starts carry it. */
export function withRequest<T>(requestId: string, fn: () => T): T {
  return requests.run({ requestId }, fn);
}

/** The request the current code runs for, if any. */
export function currentRequestId(): string | undefined {
  return requests.getStore()?.requestId;
}

export interface ProcessLogOptions {
  /** The daemon: controller, agent. */
  component: string;
  /** Bound on every record (an agent's node). */
  bindings?: Record<string, string>;
  /** Default info; VISP_LOG_LEVEL overrides. */
  level?: Level;
  /** Human-readable lines instead of JSON; default: when records go to stderr and it is a terminal. VISP_LOG_FORMAT=json|pretty overrides. */
  pretty?: boolean;
  /** Where records go; default stderr (fd 2). */
  destination?: NodeJS.WritableStream | { write(s: string): unknown };
}

/** The daemon's logger: pino to stderr, JSON lines, or pretty on a terminal. */
export function processLogger(o: ProcessLogOptions): Logger {
  const env = process.env.VISP_LOG_LEVEL;
  const level: Level = LEVELS.includes(env as Level) ? env as Level : o.level ?? 'info';
  const format = process.env.VISP_LOG_FORMAT;
  const human = format === 'pretty' ? true : format === 'json' ? false : o.pretty ?? (!o.destination && process.stderr.isTTY === true);
  const dest = human
    ? pretty({ destination: o.destination ?? 2, sync: true, colorize: !o.destination && process.stderr.isTTY === true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,component', messageFormat: '{component}: {msg}' })
    : o.destination ?? pino.destination({ dest: 2, sync: true });
  return pino({
    level,
    // The component comes by the mixin, so a record's own component replaces
    // it rather than appearing twice.
    base: { ...o.bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Levels as words: a reader (or jq) need not know pino's numbers.
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => {
      const id = currentRequestId();
      return id ? { component: o.component, requestId: id } : { component: o.component };
    },
  }, dest);
}

/**
 * A LogFn writing to a pino logger. A module's own `component` field wins
 * over the logger's; an explicit requestId over the current request's.
 */
export function logTo(logger: Logger): LogFn {
  return (line, fields) => {
    if (!fields) { logger.info(line); return; }
    const { level = 'info', ...rest } = fields;
    logger[level](rest, line);
  };
}

/** fn with `fields` added to every record it writes (a component, a node). */
export function withFields(log: LogFn, fields: LogFields): LogFn {
  return (line, more) => log(line, { ...fields, ...more });
}
