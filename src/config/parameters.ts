/**
 * The parameters a profile gives defaults for and a service may override. One closed set, typed,
 * so that a typo or a wrong type in `services.yaml` is an error rather than a silently ignored key.
 */
import { DURATION_PATTERN } from '../common/duration.js';

export interface ParameterSpec {
  readonly description: string;
  /** JSON Schema of the value as written in YAML. */
  readonly schema: Record<string, unknown>;
  /**
   * Value used when neither the service nor its profile sets the parameter. Absent for parameters
   * bound to a check threshold: there the rule's own `default` (then the check's) applies.
   */
  readonly builtin?: unknown;
}

const duration = { type: 'string', pattern: DURATION_PATTERN };

/** A notification target: `slack:#channel`, `email:team@example.com` or `pagerduty`. */
export const CHANNEL_PATTERN = '^(slack:#?[A-Za-z0-9._-]+|email:[^@\\s]+@[^@\\s]+|pagerduty)$';

export const PARAMETERS: Readonly<Record<string, ParameterSpec>> = {
  workflow_timeout: {
    description: 'How long a remediation workflow may run before it fails and escalates.',
    schema: duration,
    builtin: '30m',
  },
  mode: {
    description:
      '`enforce` runs workflows; `notify_only` stops at the decision and says what it would have done.',
    schema: { type: 'string', enum: ['enforce', 'notify_only'] },
    builtin: 'enforce',
  },
  min_active_hosts: {
    description: 'MinActiveHosts: healthy hosts that must remain once the failed one is taken out.',
    schema: { type: 'integer', minimum: 0 },
  },
  max_active_hosts: {
    description: 'MaxActiveHosts: hosts of the service must be below this for a replacement to be added.',
    schema: { type: 'integer', minimum: 1 },
  },
  peer_min_healthy_ratio: {
    description: "PeerCheck: share of the service's other hosts that must be healthy (0..1).",
    schema: { type: 'number', minimum: 0, maximum: 1 },
  },
  rate_limit_threshold: {
    description: 'Events of the service in the rate-limit window above which every action is suspended.',
    schema: { type: 'integer', minimum: 1 },
    builtin: 5,
  },
  rate_limit_window: {
    description: 'The rolling window of the per-service rate limit.',
    schema: duration,
    builtin: '10m',
  },
  reremediate_after: {
    description:
      'A host (or resource) this controller remediated less than this ago (from the end of the run, whatever its outcome) is not remediated again: a later report about it escalates (recently_remediated).',
    schema: duration,
    builtin: '1h',
  },
  notification_channels: {
    description: 'Where notifications go: `slack:#channel`, `email:address` or `pagerduty`.',
    schema: { type: 'array', items: { type: 'string', pattern: CHANNEL_PATTERN }, uniqueItems: true },
    builtin: [],
  },
};

/** Schema of a `parameters:` block (a profile's defaults or a service's overrides). */
export const PARAMETERS_SCHEMA = {
  type: 'object',
  properties: Object.fromEntries(Object.entries(PARAMETERS).map(([name, spec]) => [name, spec.schema])),
  additionalProperties: false,
} as const;
