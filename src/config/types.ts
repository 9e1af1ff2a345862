/**
 * The configuration in its three stages (STYLE.md): as written in YAML (`Raw*`, durations as
 * strings), then compiled (`Compiled*`): defaults applied, durations in milliseconds (`...Ms`),
 * profiles expanded per service, everything deep-frozen.
 */

// ---------------------------------------------------------------------------------------------
// As written

export interface RawRule {
  name: string;
  description?: string;
  criteria: {
    environment?: string;
    event_type: string;
    event_data?: Record<string, string | number | boolean>;
  };
  checks?: RawCheck[];
  action: { name: string; inputs?: Record<string, unknown> };
  /** What to lock before the workflow runs. @defaultValue `host` */
  lock?: 'host' | 'service' | 'none';
}

export interface RawCheck {
  checkName: string;
  /** The check's threshold when neither the service nor its profile sets the bound parameter. */
  default?: unknown;
  [option: string]: unknown;
}

export interface RawStep {
  id: string;
  action: string;
  inputs?: Record<string, unknown>;
  needs?: string[];
  when?: string;
  timeout?: string;
  retries?: number;
  retry_backoff?: string;
  /** `false` for a step that must not run twice (boot a host): after a crash it escalates instead. */
  idempotent?: boolean;
  /** `false` for a step whose failure is final (no retries whatever `retries` says). */
  retryable?: boolean;
}

export interface RawWorkflow {
  name: string;
  description?: string;
  steps: RawStep[];
  on_failure?: RawStep[];
}

export interface RawProfile {
  name: string;
  description?: string;
  rules: string[];
  parameters?: Record<string, unknown>;
}

export interface RawServiceEntry {
  profile: string;
  team?: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface RawServices {
  services: Record<string, RawServiceEntry>;
}

export interface RawNode {
  id: string;
  zone: string;
  grpc: string;
  api: string;
  listen?: { grpc?: string; api?: string };
  /** Source address of this node's outbound health-check requests (the local stack tells zones apart by it). */
  source_address?: string;
}

export interface RawRegion {
  region: string;
  quorum?: number;
  paths?: { rules?: string; profiles?: string; workflows?: string; services?: string };
  nodes: RawNode[];
  kinesis: {
    stream: string;
    region?: string;
    endpoint?: string;
    shards?: number;
    poll_interval?: string;
    lease_ttl?: string;
  };
  redis: {
    mode?: 'standalone' | 'sentinel' | 'cluster';
    url?: string;
    url_env?: string;
    sentinels?: string[];
    master?: string;
    nodes?: string[];
    password_env?: string;
    key_prefix?: string;
    replica_ack?: { replicas?: number; timeout?: string };
  };
  inventory:
    { type: 'file'; path: string; refresh?: string } | { type: 'http'; url: string; refresh?: string };
  orchestrator?: { url: string };
  thresholds?: {
    max_event_age?: string;
    clock_skew_tolerance?: string;
    dedup_window?: string;
    breaker_threshold?: number;
    breaker_window?: string;
    vote_timeout?: string;
    probe_cache?: string;
  };
  events?: { max_bytes?: number };
  workflows?: { lease_ttl?: string; exec_dir?: string; step_concurrency?: number };
  peers?: { tls?: { ca: string; cert: string; key: string; key_env?: string }; insecure?: boolean };
  api?: {
    token_env?: string;
    protect_reads?: boolean;
    tokens?: { name: string; env: string; roles: ('read' | 'submit' | 'operate')[] }[];
    tls?: { cert: string; key?: string; key_env?: string };
  };
  pagerduty?: {
    url?: string;
    token_env?: string;
    from: string;
    budget?: string;
    incident_grace?: string;
    user_id?: string;
    requests_per_minute?: number;
  };
  notifications?: {
    slack_webhooks?: Record<string, string | { url_env: string }>;
    smtp?: {
      host: string;
      port?: number;
      secure?: boolean;
      from: string;
      user_env?: string;
      password_env?: string;
    };
    teams?: Record<string, string[]>;
    fallback?: string[];
  };
  audit?: { retention?: string; max_events?: number };
  sensors?: {
    alertmanager?: RawSensorMapping;
    datadog?: RawSensorMapping;
    aws?: { environment?: string };
  };
}

export interface RawFieldSource {
  from: string[];
  default?: string;
}

/** `sensors.<name>` as written: each field given replaces the adapter's default for it. */
export interface RawSensorMapping {
  service?: RawFieldSource;
  host?: RawFieldSource;
  environment?: RawFieldSource;
  type?: RawFieldSource;
  types?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Compiled

/** Where a resolved value came from: how an operator finds out why a threshold is what it is. */
export type ValueSource = 'service' | 'profile' | 'rule' | 'builtin';

export interface Resolved<T> {
  readonly value: T;
  readonly source: ValueSource;
}

export interface CompiledCheck {
  readonly name: string;
  readonly threshold?: Resolved<unknown>;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A criterion compiled to the set of values it accepts (`a|b|c` → {a, b, c}). */
export interface CompiledCriteria {
  /** Absent: any environment. */
  readonly environment?: ReadonlySet<string>;
  readonly eventType: ReadonlySet<string>;
  /** Field of `event.data` → accepted values (compared as strings). */
  readonly eventData: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface CompiledRule {
  /** `service/rule`, unique in the region. */
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly description: string;
  /** The rule as written in its file, for explanations. */
  readonly criteriaText: Readonly<Record<string, string>>;
  readonly criteria: CompiledCriteria;
  readonly checks: readonly CompiledCheck[];
  readonly action: { readonly workflow: string; readonly inputs: Readonly<Record<string, unknown>> };
  readonly lock: 'host' | 'service' | 'none';
  readonly file: string;
}

export interface ServiceParameters {
  readonly mode: 'enforce' | 'notify_only';
  readonly workflowTimeoutMs: number;
  readonly rateLimitThreshold: number;
  readonly rateLimitWindowMs: number;
  readonly notificationChannels: readonly string[];
  /** A host remediated less than this ago (from the end of its run) is not remediated again. */
  readonly reremediateAfterMs: number;
  /** Every parameter's resolved value as written (durations as strings), for templates and printouts. */
  readonly values: Readonly<Record<string, Resolved<unknown>>>;
}

export interface CompiledService {
  readonly name: string;
  readonly profile: string;
  readonly team?: string;
  readonly parameters: ServiceParameters;
  /** In the profile's order: the first rule that matches an event is the one that applies. */
  readonly rules: readonly CompiledRule[];
}

export interface CompiledStep {
  readonly id: string;
  readonly action: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly needs: readonly string[];
  readonly when?: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryBackoffMs: number;
  readonly idempotent: boolean;
  readonly retryable: boolean;
}

export interface CompiledWorkflow {
  readonly name: string;
  readonly description: string;
  /** Steps in a topological order (each after all of its `needs`). */
  readonly steps: readonly CompiledStep[];
  readonly onFailure: readonly CompiledStep[];
  readonly file: string;
}

export interface ClusterNode {
  readonly id: string;
  readonly zone: string;
  /** The address peers dial (advertised). */
  readonly grpc: string;
  /** The address clients of the REST API reach (advertised). */
  readonly api: string;
  /** Where the node binds, when not `grpc` / `api` (e.g. `0.0.0.0:50051` behind a name). */
  readonly listen?: { readonly grpc?: string; readonly api?: string };
  readonly sourceAddress?: string;
}

export interface CompiledRegion {
  readonly region: string;
  readonly quorum: number;
  readonly nodes: readonly ClusterNode[];
  readonly kinesis: {
    readonly stream: string;
    /** Absent: the AWS SDK's default region chain (`AWS_REGION`, the config files, the instance metadata). */
    readonly region?: string;
    readonly endpoint?: string;
    readonly shards: number;
    /** Minimum time between two GetRecords calls on a shard (Kinesis allows 5 per second). */
    readonly pollMs: number;
    /** A dead node's shards are taken over within this. */
    readonly leaseTtlMs: number;
  };
  readonly redis: CompiledRedis;
  readonly inventory:
    | { readonly type: 'file'; readonly path: string; readonly refreshMs: number }
    | { readonly type: 'http'; readonly url: string; readonly refreshMs: number };
  readonly orchestrator?: { readonly url: string };
  readonly thresholds: {
    readonly maxEventAgeMs: number;
    readonly clockSkewToleranceMs: number;
    readonly dedupWindowMs: number;
    readonly breakerThreshold: number;
    readonly breakerWindowMs: number;
    readonly voteTimeoutMs: number;
    /** How long a node reuses its probe of a peer host (0: never). */
    readonly probeCacheMs: number;
  };
  readonly events: { readonly maxBytes: number };
  readonly workflows: {
    /** A run whose node died is taken over within this. */
    readonly leaseTtlMs: number;
    /** The only directory `exec` steps may run scripts from (absolute); absent: `exec` is refused. */
    readonly execDir?: string;
    readonly stepConcurrency: number;
  };
  /**
   * How nodes know each other: mutual TLS (paths resolved; `{node}` in `cert` and `key` stands for
   * the node's id), or, only when said so, no TLS at all.
   */
  readonly peers:
    | {
        readonly tls: {
          readonly ca: string;
          readonly cert: string;
          readonly key: string;
          readonly keyEnv?: string;
        };
      }
    | { readonly insecure: true };
  readonly api: {
    /** Environment variable holding the bearer token of writes; unset or empty: writes are refused. */
    readonly tokenEnv: string;
    readonly protectReads: boolean;
    /** Named tokens, each from its environment variable, with the roles it has. */
    readonly tokens: readonly {
      readonly name: string;
      readonly env: string;
      readonly roles: readonly ('read' | 'submit' | 'operate')[];
    }[];
    /**
     * HTTPS: the API's certificate and its key (paths resolved; `{node}` stands for the node's id),
     * or the key's PEM in the variable `keyEnv` (used instead of `key` when both are given, as for
     * the peers). Absent: plain HTTP.
     */
    readonly tls?: { readonly cert: string; readonly key?: string; readonly keyEnv?: string };
  };
  /** Absent: paging is not configured, and an event with an incident key is never acted on. */
  readonly pagerduty?: {
    readonly url: string;
    readonly tokenEnv: string;
    readonly from: string;
    readonly budgetMs: number;
    readonly incidentGraceMs: number;
    /** The controller's own PagerDuty user id; absent: `GET /users/me` (a user-level token). */
    readonly userId?: string;
    /** PagerDuty REST requests a minute the whole region may send (its limit for that user). */
    readonly requestsPerMinute: number;
  };
  readonly notifications: {
    /** Channel → its incoming webhook: the URL as written, or the environment variable holding it. */
    readonly slackWebhooks: Readonly<Record<string, { readonly url: string } | { readonly urlEnv: string }>>;
    readonly smtp?: {
      readonly host: string;
      readonly port: number;
      readonly secure: boolean;
      readonly from: string;
      readonly userEnv?: string;
      readonly passwordEnv?: string;
    };
    readonly teams: Readonly<Record<string, readonly string[]>>;
    readonly fallback: readonly string[];
  };
  /** The sensor adapters' mappings as written (the adapters' defaults fill in the rest). */
  readonly sensors: {
    readonly alertmanager: Readonly<RawSensorMapping>;
    readonly datadog: Readonly<RawSensorMapping>;
    /** The environment of events from AWS (EventBridge). @defaultValue prod */
    readonly awsEnvironment: string;
  };
  readonly audit: {
    /** How long an event's decision and trace are kept. */
    readonly retentionMs: number;
    /** Events kept at most (the oldest go first). */
    readonly maxEvents: number;
  };
}

export interface CompiledConfig {
  /** The directory the configuration was loaded from. */
  readonly dir: string;
  readonly region: CompiledRegion;
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly workflows: ReadonlyMap<string, CompiledWorkflow>;
  readonly profiles: ReadonlyMap<
    string,
    { readonly name: string; readonly description: string; readonly rules: readonly string[] }
  >;
}

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Where the region's Redis is, as `redis.mode` says, and how sure a write must be. */
export type CompiledRedis = (
  | {
      readonly mode: 'standalone';
      /** The URL as written, or the environment variable that holds it (it may carry a password). */
      readonly url: { readonly url: string } | { readonly urlEnv: string };
    }
  | {
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisAddress[];
      /** The master group the sentinels watch (`sentinel monitor <master> …`). */
      readonly master: string;
    }
  | { readonly mode: 'cluster'; readonly nodes: readonly RedisAddress[] }
) & {
  readonly keyPrefix: string;
  /** The password from this environment variable (sentinel and cluster; standalone: also the URL's). */
  readonly passwordEnv?: string;
  /**
   * After taking a lock or a fencing token, wait for this many replicas to have it (`WAIT`), at most
   * `timeoutMs`; fewer: the lock is not safely held (a failover could forget it). 0: do not wait.
   */
  readonly replicaAck: { readonly replicas: number; readonly timeoutMs: number };
};
