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
  },
} as const;

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
}

/** @defaultValue 64 KiB: far below Kinesis' 1 MiB record, far above any real sensor event. */
export const DEFAULT_MAX_EVENT_BYTES = 65536;
