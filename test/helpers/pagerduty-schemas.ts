/**
 * JSON Schemas of the PagerDuty REST API v2 answers the controller reads, written from PagerDuty's
 * published OpenAPI description (`PagerDuty/api-schema`, `reference/REST/openapiv3.json`:
 * `#/components/schemas/Incident`, `Assignment`, `Acknowledgement`, `LogEntry` and its subtypes,
 * `User`, `Pagination`, `IncidentNote`, and the error body). Closed where the spec lists every
 * property (`additionalProperties: false` on the incident, so that an invented field such as
 * `escalation_level` fails the check); the spec marks almost nothing required, so `required` lists
 * what the controller relies on.
 */
/** RFC 3339 date-time (the spec's `format: date-time`), as a pattern: no format plugin needed. */
const dateTime = {
  type: 'string',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$',
} as const;
const reference = (type: string) =>
  ({
    type: 'object',
    required: ['id', 'type'],
    properties: {
      id: { type: 'string' },
      type: { const: type },
      summary: { type: ['string', 'null'] },
      self: { type: ['string', 'null'] },
      html_url: { type: ['string', 'null'] },
    },
  }) as const;
const agent = {
  type: 'object',
  required: ['id', 'type'],
  properties: {
    id: { type: 'string' },
    type: { enum: ['user_reference', 'service_reference', 'integration_reference'] },
    summary: { type: ['string', 'null'] },
    self: { type: ['string', 'null'] },
    html_url: { type: ['string', 'null'] },
  },
} as const;

export const INCIDENT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'status', 'incident_key', 'assignments', 'acknowledgements', 'created_at'],
  properties: {
    id: { type: 'string' },
    type: { const: 'incident' },
    summary: { type: ['string', 'null'] },
    self: { type: ['string', 'null'] },
    html_url: { type: ['string', 'null'] },
    incident_number: { type: 'integer' },
    title: { type: 'string' },
    created_at: dateTime,
    updated_at: dateTime,
    status: { enum: ['triggered', 'acknowledged', 'resolved'] },
    incident_key: { type: ['string', 'null'] },
    service: reference('service_reference'),
    assignments: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'assignee'],
        additionalProperties: false,
        properties: { at: dateTime, assignee: reference('user_reference') },
      },
    },
    assigned_via: { enum: ['escalation_policy', 'direct_assignment'] },
    acknowledgements: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'acknowledger'],
        additionalProperties: false,
        properties: {
          at: dateTime,
          acknowledger: {
            type: 'object',
            required: ['id', 'type'],
            properties: { id: { type: 'string' }, type: { enum: ['user_reference', 'service_reference'] } },
          },
        },
      },
    },
    last_status_change_at: dateTime,
    last_status_change_by: agent,
    resolved_at: { anyOf: [dateTime, { type: 'null' }] },
    first_trigger_log_entry: reference('trigger_log_entry_reference'),
    alert_counts: {
      type: 'object',
      properties: { triggered: { type: 'integer' }, resolved: { type: 'integer' }, all: { type: 'integer' } },
    },
    is_mergeable: { type: 'boolean' },
    escalation_policy: reference('escalation_policy_reference'),
    teams: { type: 'array' },
    pending_actions: { type: 'array' },
    priority: { type: ['object', 'null'] },
    resolve_reason: { type: ['object', 'null'] },
    urgency: { enum: ['high', 'low'] },
    incident_type: { type: 'object' },
    alert_grouping: { type: ['object', 'null'] },
    conference_bridge: { type: 'object' },
    body: { type: 'object' },
  },
} as const;

const LOG_ENTRY_TYPES = [
  'acknowledge_log_entry',
  'annotate_log_entry',
  'assign_log_entry',
  'delegate_log_entry',
  'escalate_log_entry',
  'exhaust_escalation_path_log_entry',
  'notify_log_entry',
  'reach_ack_limit_log_entry',
  'reach_trigger_limit_log_entry',
  'repeat_escalation_path_log_entry',
  'resolve_log_entry',
  'snooze_log_entry',
  'trigger_log_entry',
  'unacknowledge_log_entry',
  'urgency_change_log_entry',
] as const;

export const LOG_ENTRY_SCHEMA = {
  type: 'object',
  required: ['id', 'type', 'created_at', 'agent'],
  properties: {
    id: { type: 'string' },
    type: { enum: LOG_ENTRY_TYPES },
    summary: { type: ['string', 'null'] },
    created_at: dateTime,
    agent,
    channel: { type: 'object', properties: { type: { type: 'string' } } },
    incident: reference('incident_reference'),
    service: reference('service_reference'),
    note: { type: 'string' },
    event_details: { type: 'object' },
    assignees: { type: 'array', items: reference('user_reference') },
  },
  // Only escalate, assign and delegate entries name assignees (EscalateLogEntry, AssignLogEntry, ...).
  if: { properties: { type: { enum: ['escalate_log_entry', 'assign_log_entry', 'delegate_log_entry'] } } },
  then: { required: ['assignees'] },
  else: { not: { required: ['assignees'] } },
} as const;

export const USER_SCHEMA = {
  type: 'object',
  required: ['id', 'type', 'name', 'email'],
  properties: {
    id: { type: 'string' },
    type: { const: 'user' },
    name: { type: 'string' },
    email: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' },
    summary: { type: ['string', 'null'] },
    self: { type: ['string', 'null'] },
    role: {
      enum: [
        'admin',
        'limited_user',
        'observer',
        'owner',
        'read_only_user',
        'restricted_access',
        'read_only_limited_user',
        'user',
      ],
    },
  },
} as const;

export const NOTE_SCHEMA = {
  type: 'object',
  required: ['note'],
  properties: {
    note: {
      type: 'object',
      required: ['id', 'content', 'user'],
      properties: {
        id: { type: 'string' },
        content: { type: 'string' },
        created_at: dateTime,
        user: {
          type: 'object',
          required: ['id', 'type'],
          properties: { id: { type: 'string' }, type: { enum: ['user_reference', 'bot_user_reference'] } },
        },
      },
    },
  },
} as const;

/** A list answer: `Pagination` plus its array (`incidents`, `log_entries`, `users`). */
export function listSchema(name: string, item: object): object {
  return {
    type: 'object',
    required: [name, 'limit', 'offset', 'more'],
    additionalProperties: false,
    properties: {
      [name]: { type: 'array', items: item },
      limit: { type: 'integer' },
      offset: { type: 'integer' },
      more: { type: 'boolean' },
      total: { type: ['integer', 'null'] },
    },
  };
}

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message'],
      properties: {
        code: { type: 'integer' },
        message: { type: 'string' },
        errors: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const;

/**
 * The body of `PUT /incidents` ("Manage incidents", operationId `updateIncidents`), as the spec's
 * request body gives it: `incidents`, each with the required `id` and `type` and the spec's other
 * fields (closed: a field the spec does not list fails); "a maximum of 250 incidents may be updated
 * at a time" is `maxItems`.
 */
export const UPDATE_INCIDENTS_REQUEST_SCHEMA = {
  type: 'object',
  required: ['incidents'],
  additionalProperties: false,
  properties: {
    incidents: {
      type: 'array',
      maxItems: 250,
      items: {
        type: 'object',
        required: ['id', 'type'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          type: { enum: ['incident', 'incident_reference'] },
          status: { enum: ['resolved', 'acknowledged', 'triggered'] },
          resolution: { type: 'string' },
          title: { type: 'string' },
          priority: {},
          escalation_level: { type: 'integer' },
          assignments: { type: 'array' },
          incident_type: { type: 'object' },
          escalation_policy: { type: 'object' },
          urgency: { enum: ['high', 'low'] },
          conference_bridge: { type: 'object' },
        },
      },
    },
  },
} as const;
