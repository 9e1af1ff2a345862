/**
 * Error codes of the REST API and the HTTP status each one is answered with (one registry, as
 * Fastify's `lib/errors.js`). Every error leaves the API as `{"error": {"code", "message", ...}}`;
 * clients switch on `code`, never on the message.
 */
import { LzError } from '../common/errors.js';

export const ApiErrorCodes = {
  /** No such route, event or file. */
  NOT_FOUND: 'LZ_ERR_API_NOT_FOUND',
  /** The route exists but not with this method (`Allow` lists the ones it has). */
  METHOD_NOT_ALLOWED: 'LZ_ERR_API_METHOD_NOT_ALLOWED',
  /** A query parameter, a cursor or a posted event is not valid; `errors` names each problem. */
  BAD_REQUEST: 'LZ_ERR_API_BAD_REQUEST',
  /** No bearer token, or the wrong one (writes always; reads when they are protected). */
  UNAUTHORIZED: 'LZ_ERR_API_UNAUTHORIZED',
  /** The request body is over the event size limit (`events.max_bytes`). */
  TOO_LARGE: 'LZ_ERR_API_TOO_LARGE',
  /** Redis or the stream could not be reached, or the node is not running: try again later or elsewhere. */
  UNAVAILABLE: 'LZ_ERR_API_UNAVAILABLE',
  /** A bug: the request could not be answered; the node's log has the details. */
  INTERNAL: 'LZ_ERR_API_INTERNAL',
} as const;

export type ApiErrorCode = (typeof ApiErrorCodes)[keyof typeof ApiErrorCodes];

/** The HTTP status of each code. */
export const API_ERROR_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  [ApiErrorCodes.NOT_FOUND]: 404,
  [ApiErrorCodes.METHOD_NOT_ALLOWED]: 405,
  [ApiErrorCodes.BAD_REQUEST]: 400,
  [ApiErrorCodes.UNAUTHORIZED]: 401,
  [ApiErrorCodes.TOO_LARGE]: 413,
  [ApiErrorCodes.UNAVAILABLE]: 503,
  [ApiErrorCodes.INTERNAL]: 500,
};

/** One problem of a request, with where it is (`/time` in a posted event, `limit` in a query). */
export interface ApiProblem {
  readonly path: string;
  readonly message: string;
}

export class ApiError extends LzError {
  override readonly code: ApiErrorCode;
  readonly status: number;
  readonly errors: readonly ApiProblem[];
  /** Extra fields of the JSON body (`event_code` of a refused event). */
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(
    code: ApiErrorCode,
    message: string,
    options: {
      errors?: readonly ApiProblem[];
      extra?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(code, message, {
      retryable: code === ApiErrorCodes.UNAVAILABLE,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERROR_STATUS[code];
    this.errors = options.errors ?? [];
    this.extra = options.extra ?? {};
  }

  /** The JSON body: `{"error": {"code", "message", "errors"?, ...extra}}`. */
  body(): { error: Record<string, unknown> } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.errors.length === 0 ? {} : { errors: this.errors }),
        ...this.extra,
      },
    };
  }
}

export function badRequest(message: string, errors: readonly ApiProblem[] = []): ApiError {
  return new ApiError(ApiErrorCodes.BAD_REQUEST, message, { errors });
}

export function notFound(message: string): ApiError {
  return new ApiError(ApiErrorCodes.NOT_FOUND, message);
}

export function unavailable(message: string, cause?: unknown): ApiError {
  return new ApiError(ApiErrorCodes.UNAVAILABLE, message, cause === undefined ? {} : { cause });
}
