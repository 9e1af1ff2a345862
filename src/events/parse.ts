/**
 * Turning bytes from the stream (or the REST API) into an event. Never throws: a record that is not
 * an event comes back as a `Rejection` naming what is wrong and where, so that the caller records it,
 * sets it aside and moves on. A poison record must never crash a node or block a shard.
 */
import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import { EventErrorCodes } from './errors.js';
import { DEFAULT_MAX_EVENT_BYTES, EVENT_SCHEMA } from './schema.js';
import { checkShape } from './shape.js';
import type { LzEvent } from './schema.js';

export interface Rejection {
  /** An `LZ_ERR_EVENT_*` code (or, for a sensor's alert that could not be mapped, the sensors' own). */
  readonly code: string;
  /** One line for logs and the audit trail. */
  readonly message: string;
  /** Each problem with its JSON pointer in the event (`/data`, `/time`). */
  readonly errors: readonly { readonly path: string; readonly message: string }[];
}

export type ParseResult =
  | {
      readonly ok: true;
      readonly event: LzEvent;
      /** `time` in epoch milliseconds. */ readonly timeMs: number;
    }
  | { readonly ok: false; readonly rejection: Rejection };

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(EVENT_SCHEMA);
const decoder = new TextDecoder('utf-8', { fatal: true });

export interface ParseOptions {
  /** @defaultValue {@link DEFAULT_MAX_EVENT_BYTES} */
  readonly maxBytes?: number;
}

export function parseEvent(input: Uint8Array | string, options: ParseOptions = {}): ParseResult {
  try {
    return parseUnsafe(input, options.maxBytes ?? DEFAULT_MAX_EVENT_BYTES);
  } catch (error) {
    // Nothing above should throw; if something does, the record is still set aside, not fatal.
    return reject(EventErrorCodes.INVALID, `event could not be parsed: ${(error as Error).message}`);
  }
}

function parseUnsafe(input: Uint8Array | string, maxBytes: number): ParseResult {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > maxBytes)
    return reject(EventErrorCodes.TOO_LARGE, `event is ${size} bytes; the limit is ${maxBytes}`);

  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = decoder.decode(input);
    } catch {
      return reject(EventErrorCodes.NOT_UTF8, 'event is not valid UTF-8');
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return reject(EventErrorCodes.NOT_JSON, `event is not JSON: ${(error as Error).message}`);
  }
  // Before anything else walks it (the schema check included): its shape is bounded, not only its size.
  const shape = checkShape(value);
  if (shape !== undefined)
    return reject(shape.code, `event is refused: ${shape.path || '/'} ${shape.message}`, [
      { path: shape.path, message: shape.message },
    ]);
  if (!validate(value)) {
    const errors = (validate.errors ?? []).map(describe);
    return reject(
      EventErrorCodes.INVALID,
      `event is invalid: ${errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`,
      errors,
    );
  }
  const event = value as LzEvent & { data?: Record<string, unknown> };
  const errors: { path: string; message: string }[] = [];
  const timeMs = Date.parse(event.time);
  if (Number.isNaN(timeMs))
    errors.push({ path: '/time', message: `"${event.time}" is not a real date and time` });
  if (event.host === undefined && event.resource === undefined) {
    errors.push({ path: '', message: 'an event names the "host" or the "resource" it is about' });
  }
  if (errors.length > 0) {
    return reject(
      EventErrorCodes.INVALID,
      `event is invalid: ${errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`,
      errors,
    );
  }
  return { ok: true, event: Object.freeze({ ...event, data: Object.freeze(event.data ?? {}) }), timeMs };
}

function describe(error: ErrorObject): { path: string; message: string } {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: error.instancePath, message: `unknown field "${String(p['additionalProperty'])}"` };
    case 'required':
      return {
        path: error.instancePath,
        message: `missing required field "${String(p['missingProperty'])}"`,
      };
    case 'pattern':
      return {
        path: error.instancePath,
        message:
          error.instancePath === '/time'
            ? 'must be an RFC 3339 time with a zone, e.g. 2026-11-22T03:00:00Z'
            : `must match ${String(p['pattern'])}`,
      };
    default:
      return { path: error.instancePath, message: error.message ?? error.keyword };
  }
}

function reject(code: Rejection['code'], message: string, errors: Rejection['errors'] = []): ParseResult {
  return { ok: false, rejection: { code, message, errors } };
}
