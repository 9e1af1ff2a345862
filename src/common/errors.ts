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

/** Codes of the configuration module. */
export const ConfigErrorCodes = {
  /** The configuration has one or more problems; `issues` lists every one. */
  INVALID: 'LZ_ERR_CONFIG_INVALID',
  /** A configuration file or directory could not be read. */
  UNREADABLE: 'LZ_ERR_CONFIG_UNREADABLE',
} as const;

/** Codes of the event module (a rejection's `code`). */
export const EventErrorCodes = {
  TOO_LARGE: 'LZ_ERR_EVENT_TOO_LARGE',
  NOT_UTF8: 'LZ_ERR_EVENT_NOT_UTF8',
  NOT_JSON: 'LZ_ERR_EVENT_NOT_JSON',
  INVALID: 'LZ_ERR_EVENT_INVALID',
  /** Objects and arrays nested deeper than the envelope allows. */
  TOO_DEEP: 'LZ_ERR_EVENT_TOO_DEEP',
  /** An array with more items than the envelope allows. */
  TOO_MANY_ITEMS: 'LZ_ERR_EVENT_TOO_MANY_ITEMS',
  /** A string value or key longer than the envelope allows. */
  STRING_TOO_LONG: 'LZ_ERR_EVENT_STRING_TOO_LONG',
  /** An object with more keys than the envelope allows, or too many keys and items in all. */
  TOO_MANY_KEYS: 'LZ_ERR_EVENT_TOO_MANY_KEYS',
  /**
   * A valid event that the controller could not process (a step threw an error that is not a
   * dependency's failure): set aside as a rejected record with the error, so that it never blocks
   * its shard; nothing is acted on.
   */
  UNPROCESSABLE: 'LZ_ERR_EVENT_UNPROCESSABLE',
} as const;

/** Codes of the command line. */
export const CliErrorCodes = {
  USAGE: 'LZ_ERR_USAGE',
} as const;

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
  readonly grpc: 'INVALID_ARGUMENT' | 'UNAVAILABLE' | 'ABORTED' | 'FAILED_PRECONDITION' | 'INTERNAL';
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
