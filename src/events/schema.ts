/**
 * The event envelope a sensor writes to the stream. Closed (`additionalProperties: false`): an event
 * with a key we do not know is refused with that key named, not half understood.
 */
export const EVENT_SCHEMA = {
  type: 'object',
  required: ['id', 'type', 'source', 'time', 'environment', 'service'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' },
    type: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_.-]*$' },
    source: { type: 'string', minLength: 1, maxLength: 64 },
    /** RFC 3339 with a zone: `2026-11-22T03:00:00Z`. */
    time: {
      type: 'string',
      pattern:
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$',
    },
    region: { type: 'string', minLength: 1, maxLength: 64 },
    environment: { type: 'string', minLength: 1, maxLength: 32 },
    service: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    host: { type: 'string', minLength: 1, maxLength: 255 },
    resource: { type: 'string', minLength: 1, maxLength: 255 },
    incident_key: { type: 'string', minLength: 1, maxLength: 255 },
    data: { type: 'object', maxProperties: 64 },
    /** Written by the REST API (see {@link SubmittedBy}); a sensor writing to the stream leaves it out. */
    submitted_by: {
      type: 'object',
      required: ['via', 'token', 'node'],
      additionalProperties: false,
      properties: {
        via: { const: 'api' },
        // Names as region.yaml's token names and node ids are written.
        token: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
        node: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
      },
    },
  },
} as const;

/**
 * Who put an event on the stream through the REST API: the stamp `POST /v1/events` writes into
 * the envelope, always, in place of whatever the client sent in the field (a client cannot claim
 * another token's name), with the name of the token it was submitted with (`default` for the one
 * of `api.token_env`) and the node whose API took it.
 *
 * The stamp is read from the record like the rest of the envelope: nothing signs it. The stream's
 * writers are trusted (its IAM policy says who may put records), so a stamp in a record put on the
 * stream directly is what that producer wrote, and the audit trail shows it like one the API wrote.
 * A record without a stamp came straight from the stream, and the trail says so.
 */
export interface SubmittedBy {
  readonly via: 'api';
  /** The token's name (`api.tokens[].name`, or `default`), never the token. */
  readonly token: string;
  /** The node whose REST API accepted the event. */
  readonly node: string;
}

/** An event as the controller works with it, after parsing. */
export interface LzEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly time: string;
  readonly region?: string;
  readonly environment: string;
  readonly service: string;
  readonly host?: string;
  readonly resource?: string;
  readonly incident_key?: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly submitted_by?: SubmittedBy;
}

/** @defaultValue 64 KiB: far below Kinesis' 1 MiB record, far above any real sensor event. */
export const DEFAULT_MAX_EVENT_BYTES = 65536;
