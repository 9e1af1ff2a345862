/**
 * Error codes of the REST API and the HTTP status each one is answered with (one registry, as
 * Fastify's `lib/errors.js`). Every error leaves the API as `{"error": {"code", "message", ...}}`;
 * clients switch on `code`, never on the message.
 */
import { LzError } from '../common/errors.js';
import { errorRegistry } from '../common/errors.js';

export const API_ERRORS = errorRegistry('api', {
  /** No such route, event or file. */
  NOT_FOUND: {
    code: 'LZ_ERR_API_NOT_FOUND',
    message: '404: no such route, event or file',
    retryable: false,
    http: 404,
    grpc: 'NOT_FOUND',
  },
  /** The route exists but not with this method (`Allow` lists the ones it has). */
  METHOD_NOT_ALLOWED: {
    code: 'LZ_ERR_API_METHOD_NOT_ALLOWED',
    message: '405: the route exists but not with this method; `Allow` lists the ones it has',
    retryable: false,
    http: 405,
    grpc: 'UNIMPLEMENTED',
  },
  /** A query parameter, a cursor or a posted event is not valid; `errors` names each problem. */
  BAD_REQUEST: {
    code: 'LZ_ERR_API_BAD_REQUEST',
    message:
      '400: a query parameter, a cursor or a posted event is not valid; `errors` names each problem (a refused event adds its `event_code`)',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /** No bearer token, or the wrong one (writes always; reads when they are protected). */
  FORBIDDEN: {
    code: 'LZ_ERR_API_FORBIDDEN',
    message:
      "403: a valid token without the route's role (`read`, `submit` or `operate`); the message names the token and the role needed",
    retryable: false,
    http: 403,
    grpc: 'PERMISSION_DENIED',
  },
  UNAUTHORIZED: {
    code: 'LZ_ERR_API_UNAUTHORIZED',
    message:
      '401: no bearer token or the wrong one (writes always; reads with `protect_reads`), or the node has no token configured',
    retryable: false,
    http: 401,
    grpc: 'UNAUTHENTICATED',
  },
  /** The request body is over the event size limit (`events.max_bytes`). */
  TOO_LARGE: {
    code: 'LZ_ERR_API_TOO_LARGE',
    message: '413: the request body is over `events.max_bytes`',
    retryable: false,
    http: 413,
    grpc: 'RESOURCE_EXHAUSTED',
  },
  /** Redis or the stream could not be reached, or the node is not running: try again later or elsewhere. */
  UNAVAILABLE: {
    code: 'LZ_ERR_API_UNAVAILABLE',
    message:
      '503: Redis or the stream could not be reached, or the node is not running; retryable: try again or ask another node',
    retryable: true,
    http: 503,
    grpc: 'UNAVAILABLE',
  },
  /** A bug: the request could not be answered; the node's log has the details. */
  INTERNAL: {
    code: 'LZ_ERR_API_INTERNAL',
    message: "500: a bug; the node's log has the details",
    retryable: false,
    http: 500,
    grpc: 'INTERNAL',
  },
});

export const ApiErrorCodes = API_ERRORS.codes;

export type ApiErrorCode = (typeof ApiErrorCodes)[keyof typeof ApiErrorCodes];

/** The HTTP status of each code. */
export const API_ERROR_STATUS = Object.fromEntries(
  Object.values(API_ERRORS.specs).map((spec) => [spec.code, spec.http]),
) as Readonly<Record<ApiErrorCode, number>>;

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
