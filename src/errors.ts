// One error base for all of visp. `code` is stable (scripts and the API edge
// switch on it); `cause` keeps what went wrong underneath. The API edge maps
// each class to exactly one gRPC status (see src/api/), nothing else does.

export interface ErrorOptions {
  /** The request/spec field the error is about, e.g. "links[2].members". */
  field?: string;
  cause?: unknown;
  /**
   * A refusal that lasts until a known moment (space or an identifier in
   * cooldown): when it frees, in ms since the epoch, and how long that was
   * from when the error was made. The API edge sends both as metadata.
   */
  freesAt?: number;
  retryAfterMs?: number;
}

export class VispError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly freesAt?: number;
  readonly retryAfterMs?: number;
  constructor(code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    if (opts.field !== undefined) this.field = opts.field;
    if (opts.freesAt !== undefined) this.freesAt = opts.freesAt;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Bad input: a request, topology file, flag or config. → INVALID_ARGUMENT */
export class InvalidSpecError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_INVALID_SPEC', message, opts); }
}

/** → NOT_FOUND */
export class NotFoundError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_NOT_FOUND', message, opts); }
}

/** → ALREADY_EXISTS */
export class AlreadyExistsError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_ALREADY_EXISTS', message, opts); }
}

/**
 * The world is not in a state that allows this (a kernel without the module
 * a kind needs, an object owned by someone else, a differing object that must
 * not be replaced). Carries the difference when there is one. → FAILED_PRECONDITION
 */
export class IncompatibleStateError extends VispError {
  readonly diff?: readonly string[];
  constructor(message: string, opts: ErrorOptions & { diff?: readonly string[] } = {}) {
    super('VISP_INCOMPATIBLE_STATE', message, opts);
    if (opts.diff) this.diff = opts.diff;
  }
}

/** → RESOURCE_EXHAUSTED */
export class PoolExhaustedError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_POOL_EXHAUSTED', message, opts); }
}

/** A dependency (store, agent, daemon) cannot be reached now. → UNAVAILABLE */
export class UnavailableError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_UNAVAILABLE', message, opts); }
}

/**
 * The kernel rejected an operation. Message reads like
 * `linkAdd vxlan vx-3fa9 (vni 4711): EEXIST (File exists)`.
 */
export class KernelError extends VispError {
  readonly op: string;
  readonly object: string;
  readonly errno: number;
  readonly errnoName: string;
  constructor(op: string, object: string, errno: number, errnoName: string, detail?: string, opts?: ErrorOptions) {
    super('VISP_KERNEL', `${op} ${object}: ${errnoName}${detail ? ` (${detail})` : ''}`, opts);
    this.op = op;
    this.object = object;
    this.errno = errno;
    this.errnoName = errnoName;
  }
}

/** The caller presented no usable identity (no certificate, or not a visp one). → UNAUTHENTICATED */
export class UnauthenticatedError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_UNAUTHENTICATED', message, opts); }
}

/** The caller is known but its role does not allow this. → PERMISSION_DENIED */
export class PermissionDeniedError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_PERMISSION_DENIED', message, opts); }
}

/** A configured limit (size, count, rate) refuses the request; the message names the limit. → RESOURCE_EXHAUSTED */
export class LimitExceededError extends VispError {
  readonly limit: string;
  constructor(limit: string, message: string, opts?: ErrorOptions) {
    super('VISP_LIMIT_EXCEEDED', `${limit}: ${message}`, { field: limit, ...opts });
    this.limit = limit;
  }
}

/**
 * The caller went away (it cancelled the call, or its deadline passed) and
 * the work stopped at a safe point: before a commit, never inside one. What
 * was not committed is not in the store. → CANCELLED
 */
export class CancelledError extends VispError {
  constructor(message: string, opts?: ErrorOptions) { super('VISP_CANCELLED', message, opts); }
}

/**
 * The error an aborted `signal` stands for: its reason when that is a
 * VispError already (the API edge aborts with a CancelledError), else a
 * CancelledError keeping the reason as its cause (a plain abort()'s
 * DOMException would otherwise reach the edge as INTERNAL).
 */
export function cancelledBy(signal: AbortSignal): VispError {
  const r: unknown = signal.reason;
  if (r instanceof VispError) return r;
  return new CancelledError(`cancelled: ${r instanceof Error ? r.message : String(r)}`, { cause: r });
}

/** Throws cancelledBy(signal) if `signal` was aborted: the check at each safe point. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledBy(signal);
}
