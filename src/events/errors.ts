/** Error codes of the event envelope: a rejection's `code` (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

/** Codes of the event module (a rejection's `code`). */
export const EVENT_ERRORS = errorRegistry('events', {
  TOO_LARGE: {
    code: 'LZ_ERR_EVENT_TOO_LARGE',
    message: 'an event is over `events.max_bytes`',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  NOT_UTF8: {
    code: 'LZ_ERR_EVENT_NOT_UTF8',
    message: "an event's bytes are not UTF-8",
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  NOT_JSON: {
    code: 'LZ_ERR_EVENT_NOT_JSON',
    message: 'an event is not JSON',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  INVALID: {
    code: 'LZ_ERR_EVENT_INVALID',
    message: 'an event does not follow the envelope schema; each problem is named',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /** Objects and arrays nested deeper than the envelope allows. */
  TOO_DEEP: {
    code: 'LZ_ERR_EVENT_TOO_DEEP',
    message: "an event's objects and arrays nest deeper than 10 levels; the place is named",
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /** An array with more items than the envelope allows. */
  TOO_MANY_ITEMS: {
    code: 'LZ_ERR_EVENT_TOO_MANY_ITEMS',
    message: 'an array of an event has more than 256 items',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /** A string value or key longer than the envelope allows. */
  STRING_TOO_LONG: {
    code: 'LZ_ERR_EVENT_STRING_TOO_LONG',
    message: 'a string or key of an event is longer than 16,384 characters',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /** An object with more keys than the envelope allows, or too many keys and items in all. */
  TOO_MANY_KEYS: {
    code: 'LZ_ERR_EVENT_TOO_MANY_KEYS',
    message:
      'an object of an event has more than 64 keys, or the event more than 2,048 keys and items in all',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /**
   * A valid event that the controller could not process (a step threw an error that is not a
   * dependency's failure): set aside as a rejected record with the error, so that it never blocks
   * its shard; nothing is acted on.
   */
  UNPROCESSABLE: {
    code: 'LZ_ERR_EVENT_UNPROCESSABLE',
    message:
      'a valid event that a step could not process (an error that is not Redis failing); set aside (a decision with reason `unprocessable`, or a rejected record), nothing acted on, its shard goes on',
    retryable: false,
    http: 422,
    grpc: 'INVALID_ARGUMENT',
  },
  /**
   * A KPL aggregated Kinesis record (magic bytes `F3 89 9A C2`) that cannot be unpacked: truncated,
   * its MD5 checksum does not match, its protobuf cannot be decoded, or it holds no user records;
   * or one of its user records cannot be read. Rejected as one record, its shard goes on.
   */
  BAD_AGGREGATE: {
    code: 'LZ_ERR_EVENT_BAD_AGGREGATE',
    message:
      'a KPL aggregated record that cannot be unpacked (truncated, a bad MD5 checksum, undecodable, no user records), or a user record of one that cannot be read; rejected, its shard goes on',
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
});

export const EventErrorCodes = EVENT_ERRORS.codes;
