/**
 * The one base error of the project. Every error that crosses a module boundary is an `LzError`
 * with a stable `code` (documented in the README's error reference), a `retryable` flag that tells
 * callers whether trying again can help, and the underlying `cause`.
 */
export class LzError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LzError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** How a code is answered where it crosses a process boundary. */
export interface ErrorSpec {
  readonly code: `LZ_ERR_${string}`;
  /** What it means, as the README's error table says it. */
  readonly message: string;
  /** Whether trying the same thing again can help. */
  readonly retryable: boolean;
  /** The HTTP status the REST API answers with. */
  readonly http: number;
  /** The gRPC status name the peer protocol answers with. */
  readonly grpc:
    | 'INVALID_ARGUMENT'
    | 'NOT_FOUND'
    | 'PERMISSION_DENIED'
    | 'UNAUTHENTICATED'
    | 'RESOURCE_EXHAUSTED'
    | 'FAILED_PRECONDITION'
    | 'ABORTED'
    | 'UNIMPLEMENTED'
    | 'UNAVAILABLE'
    | 'INTERNAL';
}

/** A module's error codes, each with its spec; `create` makes the error with the spec's `retryable`. */
export interface ErrorRegistry<T extends Readonly<Record<string, ErrorSpec>>> {
  readonly module: string;
  readonly specs: T;
  readonly codes: { readonly [K in keyof T]: T[K]['code'] };
  create(name: keyof T, message: string, options?: { cause?: unknown }): LzError;
}

/** One registry per module, in that module's `errors.ts`. */
export function errorRegistry<const T extends Readonly<Record<string, ErrorSpec>>>(
  module: string,
  specs: T,
): ErrorRegistry<T> {
  const codes = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.code])) as {
    readonly [K in keyof T]: T[K]['code'];
  };
  return {
    module,
    specs,
    codes,
    create: (name, message, options = {}) => {
      const spec = specs[name];
      if (spec === undefined) throw new Error(`${module}: no error named ${String(name)}`);
      return new LzError(spec.code, message, { retryable: spec.retryable, ...options });
    },
  };
}

/**
 * Codes of the common layer: the ways a call to Redis fails, whichever module makes it (see
 * `dependency.ts` and `lua.ts`).
 */
export const COMMON_ERRORS = errorRegistry('common', {
  /**
   * Redis did not answer (unreachable, timed out, or refused for a reason of its own state). The
   * outcome of a write is unknown: it may have been carried out.
   */
  DEPENDENCY_DOWN: {
    code: 'LZ_ERR_DEPENDENCY_DOWN',
    message:
      'Redis could not be reached, did not answer in time, or refused for a reason of its own state (loading, read-only, out of memory, busy, credentials); the event escalates and is tried again',
    retryable: true,
    http: 503,
    grpc: 'UNAVAILABLE',
  },
  /** Redis refused the command as asked (a script's runtime error, a key of the wrong type). */
  REDIS_REFUSED: {
    code: 'LZ_ERR_REDIS_REFUSED',
    message:
      "Redis refused a command the way it would again (a Lua script's runtime error, a key of the wrong type): the record is set aside, not retried",
    retryable: false,
    http: 500,
    grpc: 'INTERNAL',
  },
  /** A Lua script returned a reply it is not written to return. */
  SCRIPT_REPLY: {
    code: 'LZ_ERR_SCRIPT_REPLY',
    message:
      'a Lua script answered something it never returns (a bug, or two releases sharing a script name): refused, never read as a yes; not retried',
    retryable: false,
    http: 500,
    grpc: 'INTERNAL',
  },
});
