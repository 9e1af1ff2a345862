/**
 * JSON Schemas of the configuration files. Every object says `additionalProperties: false`: a safety
 * system rejects a key it does not know rather than ignoring it (a misspelt `min_active_host` must not
 * silently fall back to a default).
 */
import { DURATION_PATTERN } from '../common/duration.js';
import { PARAMETERS_SCHEMA } from './parameters.js';

const duration = { type: 'string', pattern: DURATION_PATTERN } as const;
/** Exact value or alternatives `a|b|c`; no empty alternative. */
const alternatives = { type: 'string', pattern: '^[^|]+(\\|[^|]+)*$' } as const;
const identifier = { type: 'string', pattern: '^[a-z][a-z0-9_]*$' } as const;
const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' } as const;
/** `host:port`, or `[v6]:port` for an IPv6 address (`[::1]:50051`). */
const address = { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s\\[\\]]+):[0-9]{1,5}$' } as const;
/** Where an envelope field comes from in a sensor's payload: the first dotted path with a value. */
const fieldSource = {
  type: 'object',
  additionalProperties: false,
  required: ['from'],
  properties: {
    from: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$' },
    },
    default: { type: 'string', minLength: 1 },
  },
} as const;
const sensorMapping = {
  type: 'object',
  additionalProperties: false,
  properties: {
    service: fieldSource,
    host: fieldSource,
    environment: fieldSource,
    type: fieldSource,
    types: {
      type: 'object',
      additionalProperties: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_.-]*$', maxLength: 64 },
    },
  },
} as const;
/** A Redis server or sentinel: `host:port` or `[v6]:port`. */
const redisAddress = {
  type: 'string',
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s\\[\\]]+):[0-9]{1,5}$',
} as const;
const envName = { type: 'string', pattern: '^[A-Z_][A-Z0-9_]*$' } as const;

export const RULE_SCHEMA = {
  type: 'object',
  required: ['name', 'criteria', 'action'],
  additionalProperties: false,
  properties: {
    name,
    description: { type: 'string' },
    criteria: {
      type: 'object',
      required: ['event_type'],
      additionalProperties: false,
      properties: {
        environment: alternatives,
        event_type: alternatives,
        event_data: {
          type: 'object',
          additionalProperties: {
            anyOf: [alternatives, { type: 'number' }, { type: 'boolean' }],
          },
        },
      },
    },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['checkName'],
        // The keys besides checkName depend on the check; they are checked against its spec.
        properties: { checkName: { type: 'string' } },
      },
    },
    action: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: {
        name,
        inputs: { type: 'object' },
      },
    },
    lock: { type: 'string', enum: ['host', 'service', 'none'] },
  },
} as const;

const STEP_SCHEMA = {
  type: 'object',
  required: ['id', 'action'],
  additionalProperties: false,
  properties: {
    id: identifier,
    action: { type: 'string' },
    inputs: { type: 'object' },
    needs: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    when: { type: 'string', minLength: 1 },
    timeout: duration,
    retries: { type: 'integer', minimum: 0, maximum: 20 },
    retry_backoff: duration,
    idempotent: { type: 'boolean' },
    retryable: { type: 'boolean' },
  },
} as const;

export const WORKFLOW_SCHEMA = {
  type: 'object',
  required: ['name', 'steps'],
  additionalProperties: false,
  properties: {
    name,
    description: { type: 'string' },
    steps: { type: 'array', minItems: 1, items: STEP_SCHEMA },
    on_failure: { type: 'array', items: STEP_SCHEMA },
  },
} as const;

export const PROFILE_SCHEMA = {
  type: 'object',
  required: ['name', 'rules'],
  additionalProperties: false,
  properties: {
    name,
    description: { type: 'string' },
    rules: { type: 'array', minItems: 1, items: { type: 'string' }, uniqueItems: true },
    parameters: PARAMETERS_SCHEMA,
  },
} as const;

export const SERVICES_SCHEMA = {
  type: 'object',
  required: ['services'],
  additionalProperties: false,
  properties: {
    services: {
      type: 'object',
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        required: ['profile'],
        additionalProperties: false,
        properties: {
          profile: { type: 'string' },
          team: { type: 'string' },
          description: { type: 'string' },
          // Checked against the standard parameters by the loader, so that the message can say
          // which parameters the service's profile knows.
          parameters: { type: 'object' },
        },
      },
    },
  },
} as const;

export const REGION_SCHEMA = {
  type: 'object',
  required: ['region', 'nodes', 'kinesis', 'redis', 'inventory'],
  additionalProperties: false,
  properties: {
    region: name,
    quorum: { type: 'integer', minimum: 1 },
    paths: {
      type: 'object',
      additionalProperties: false,
      properties: {
        rules: { type: 'string' },
        profiles: { type: 'string' },
        workflows: { type: 'string' },
        services: { type: 'string' },
      },
    },
    nodes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['id', 'zone', 'grpc', 'api'],
        additionalProperties: false,
        properties: {
          id: name,
          zone: name,
          grpc: address,
          api: address,
          // Where the node binds, when not where its peers and clients reach it (a NAT, a pod IP
          // behind a DNS name, 0.0.0.0): `grpc` and `api` above are what the others dial.
          listen: {
            type: 'object',
            additionalProperties: false,
            properties: { grpc: address, api: address },
          },
          source_address: { type: 'string' },
        },
      },
    },
    kinesis: {
      type: 'object',
      required: ['stream'],
      additionalProperties: false,
      properties: {
        stream: name,
        region: { type: 'string' },
        endpoint: { type: 'string', pattern: '^https?://' },
        shards: { type: 'integer', minimum: 1, maximum: 500 },
        poll_interval: duration,
        lease_ttl: duration,
      },
    },
    redis: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['standalone', 'sentinel', 'cluster'] },
        url: { type: 'string', pattern: '^rediss?://' },
        url_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        sentinels: { type: 'array', minItems: 1, items: redisAddress },
        master: { type: 'string', minLength: 1 },
        nodes: { type: 'array', minItems: 1, items: redisAddress },
        password_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        key_prefix: { type: 'string', minLength: 1, pattern: '^[^{}]+$' },
        replica_ack: {
          type: 'object',
          additionalProperties: false,
          properties: { replicas: { type: 'integer', minimum: 0, maximum: 16 }, timeout: duration },
        },
      },
    },
    inventory: {
      type: 'object',
      required: ['type'],
      additionalProperties: false,
      properties: {
        type: { type: 'string', enum: ['file', 'http'] },
        path: { type: 'string' },
        url: { type: 'string', pattern: '^https?://' },
        refresh: duration,
      },
    },
    orchestrator: {
      type: 'object',
      required: ['url'],
      additionalProperties: false,
      properties: { url: { type: 'string', pattern: '^https?://' } },
    },
    thresholds: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_event_age: duration,
        clock_skew_tolerance: duration,
        dedup_window: duration,
        breaker_threshold: { type: 'integer', minimum: 1 },
        breaker_window: duration,
        vote_timeout: duration,
        probe_cache: duration,
      },
    },
    events: {
      type: 'object',
      additionalProperties: false,
      properties: { max_bytes: { type: 'integer', minimum: 256, maximum: 1048576 } },
    },
    workflows: {
      type: 'object',
      additionalProperties: false,
      properties: {
        lease_ttl: duration,
        exec_dir: { type: 'string' },
        step_concurrency: { type: 'integer', minimum: 1, maximum: 64 },
      },
    },
    peers: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tls: {
          type: 'object',
          required: ['ca', 'cert', 'key'],
          additionalProperties: false,
          properties: {
            ca: { type: 'string', minLength: 1 },
            cert: { type: 'string', minLength: 1 },
            key: { type: 'string', minLength: 1 },
            key_env: envName,
          },
        },
        insecure: { type: 'boolean' },
      },
    },
    api: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tokens: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'env', 'roles'],
            additionalProperties: false,
            properties: {
              name,
              env: envName,
              roles: {
                type: 'array',
                minItems: 1,
                uniqueItems: true,
                items: { type: 'string', enum: ['read', 'submit', 'operate'] },
              },
            },
          },
        },
        token_env: envName,
        protect_reads: { type: 'boolean' },
        // HTTPS for the API; `key` or `key_env` (checked in region.ts, which says which is missing).
        tls: {
          type: 'object',
          required: ['cert'],
          additionalProperties: false,
          properties: {
            cert: { type: 'string', minLength: 1 },
            key: { type: 'string', minLength: 1 },
            key_env: envName,
          },
        },
      },
    },
    pagerduty: {
      type: 'object',
      required: ['from'],
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^https?://' },
        token_env: envName,
        from: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' },
        budget: duration,
        incident_grace: duration,
        user_id: { type: 'string', pattern: '^[A-Z0-9]+$' },
        requests_per_minute: { type: 'integer', minimum: 60 },
      },
    },
    notifications: {
      type: 'object',
      additionalProperties: false,
      properties: {
        slack_webhooks: {
          type: 'object',
          // The URL (a secret: a load warning), or the environment variable that holds it.
          additionalProperties: {
            oneOf: [
              { type: 'string', pattern: '^https?://' },
              {
                type: 'object',
                required: ['url_env'],
                additionalProperties: false,
                properties: { url_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } },
              },
            ],
          },
        },
        smtp: {
          type: 'object',
          required: ['host', 'from'],
          additionalProperties: false,
          properties: {
            host: { type: 'string', minLength: 1 },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
            secure: { type: 'boolean' },
            from: { type: 'string', minLength: 3 },
            user_env: envName,
            password_env: envName,
          },
        },
        teams: {
          type: 'object',
          additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 } },
        },
        fallback: { type: 'array', items: { type: 'string', minLength: 1 } },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        retention: duration,
        max_events: { type: 'integer', minimum: 100 },
      },
    },
    sensors: {
      type: 'object',
      additionalProperties: false,
      properties: {
        alertmanager: sensorMapping,
        datadog: sensorMapping,
        aws: {
          type: 'object',
          additionalProperties: false,
          properties: { environment: { type: 'string', minLength: 1, maxLength: 32 } },
        },
      },
    },
  },
} as const;
