/**
 * What `POST /v1/events` puts on the stream: the client's event with the API's stamp of who
 * submitted it (`submitted_by`: the token's name and the node, see events/schema.ts), written by
 * the API in place of whatever the client sent in that field, so that no client can claim another
 * token's name (or any stamp at all). The stamped bytes are validated as the nodes will read them
 * (the stamp counts in the size limit): what is accepted here is never a record they reject.
 */
import { EventErrorCodes } from '../events/errors.js';
import { parseEvent } from '../events/parse.js';
import type { Rejection } from '../events/parse.js';
import type { LzEvent, SubmittedBy } from '../events/schema.js';

export type StampedEvent =
  | {
      readonly ok: true;
      readonly event: LzEvent;
      /** The bytes to put on the stream. */
      readonly bytes: Buffer;
      /** What the client had sent as `submitted_by`, replaced (for the log). */
      readonly replaced?: unknown;
    }
  | { readonly ok: false; readonly rejection: Rejection };

const notAnObject: Rejection = {
  code: EventErrorCodes.INVALID,
  message: 'event is invalid: / must be object',
  errors: [{ path: '', message: 'must be object' }],
};

/** The client's `body` with `stamp` as its `submitted_by`, or why it is refused. */
export function stampEvent(body: Uint8Array, stamp: SubmittedBy, maxBytes: number): StampedEvent {
  // The client's bytes are judged first as a sensor's would be (size, UTF-8, JSON, shape), so that
  // nothing unbounded is walked again below; only a schema refusal may be the client's own stamp's.
  const client = parseEvent(body, { maxBytes });
  if (!client.ok && client.rejection.code !== EventErrorCodes.INVALID) return client;
  const value: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
  // Not an object: the schema refused it (an accepted event is one).
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return client.ok ? { ok: false, rejection: notAnObject } : client;
  const { submitted_by: claimed, ...fields } = value as Record<string, unknown>;
  const bytes = Buffer.from(JSON.stringify({ ...fields, submitted_by: stamp }));
  const stamped = parseEvent(bytes, { maxBytes });
  if (!stamped.ok) {
    if (stamped.rejection.code !== EventErrorCodes.TOO_LARGE) return stamped;
    return {
      ok: false,
      rejection: {
        ...stamped.rejection,
        message: `event is ${bytes.byteLength} bytes with the API's submitted_by stamp; the limit is ${maxBytes}`,
      },
    };
  }
  return { ok: true, event: stamped.event, bytes, ...(claimed === undefined ? {} : { replaced: claimed }) };
}
