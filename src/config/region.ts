/** The region file (`region.yaml`): validation beyond the schema, and its compiled form. */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { formatDuration, parseDuration } from '../common/duration.js';
import { splitHostPort } from '../common/host-port.js';
import { REGION_SCHEMA } from './schemas.js';
import { ajv, checkSchema } from './schema-check.js';
import type { ConfigIssue, YamlSource } from './source.js';
import type { CompiledRedis, CompiledRegion, RawRegion, RedisAddress } from './types.js';

const validateRegion = ajv.compile(REGION_SCHEMA);

/** Defaults of the region file, as written. */
export const REGION_DEFAULTS = {
  quorum: 2,
  shards: 4,
  pollInterval: '200ms',
  leaseTtl: '6s',
  keyPrefix: 'lz:',
  /** How long a lock or fencing token waits for its replicas (`WAIT`): below the 500 ms command timeout. */
  replicaAckTimeout: '250ms',
  inventoryRefresh: '10s',
  maxEventAge: '5m',
  clockSkewTolerance: '30s',
  dedupWindow: '5m',
  breakerThreshold: 10,
  breakerWindow: '10m',
  voteTimeout: '5s',
  probeCache: '500ms',
  maxEventBytes: 65536,
  runLeaseTtl: '10s',
  stepConcurrency: 8,
  apiTokenEnv: 'LAZARUS_API_TOKEN',
  pagerDutyUrl: 'https://api.pagerduty.com',
  pagerDutyTokenEnv: 'PAGERDUTY_TOKEN',
  pageBudget: '50s',
  /** PagerDuty's documented REST limit for one user, shared by the region's nodes. */
  pagerDutyRequestsPerMinute: 960,
  incidentGrace: '10s',
  smtpPort: 25,
  auditRetention: '30d',
  auditMaxEvents: 1_000_000,
} as const;

/**
 * The longest `pagerduty.budget`: PagerDuty escalates to the humans by itself 60 s after the page,
 * and one HTTP attempt may take 5 s; an acknowledgement must never land after they were paged.
 */
export const MAX_PAGE_BUDGET_MS = 55_000;

/**
 * The shortest `audit.retention` (other than 0s, keep for ever): a decision is what makes a
 * redelivered event `already decided`, and an event is acted on only while it is younger than
 * `max_event_age` (plus the clocks' `clock_skew_tolerance`) and may fold into another for
 * `dedup_window`. Forgotten sooner, a redelivered event could be decided, and acted on, twice.
 * `DecisionStore.trim` never removes, by count, a decision younger than this.
 */
export function minimumRetentionMs(t: {
  readonly maxEventAgeMs: number;
  readonly clockSkewToleranceMs: number;
  readonly dedupWindowMs: number;
}): number {
  return t.maxEventAgeMs + t.clockSkewToleranceMs + t.dedupWindowMs;
}

export function compileRegion(
  source: YamlSource,
  issues: ConfigIssue[],
  dir: string,
): CompiledRegion | undefined {
  if (!checkSchema(validateRegion, source.value, source, issues)) return undefined;
  const raw = source.value as RawRegion;
  const before = issues.length;

  const quorum = raw.quorum ?? REGION_DEFAULTS.quorum;
  const n = raw.nodes.length;
  if (quorum > n) {
    issues.push(source.issue(['quorum'], `quorum ${quorum} is more than the ${n} nodes of the region`));
  } else if (quorum <= n / 2) {
    // A minority quorum would let one partitioned side act on its own view of the world.
    issues.push(
      source.issue(
        ['quorum'],
        `quorum ${quorum} must be a majority of the ${n} nodes (at least ${Math.floor(n / 2) + 1})`,
      ),
    );
  }
  for (const field of ['id', 'zone', 'grpc', 'api'] as const) {
    const seen = new Map<string, number>();
    raw.nodes.forEach((node, i) => {
      const first = seen.get(node[field]);
      if (first === undefined) seen.set(node[field], i);
      else {
        const why =
          field === 'zone'
            ? ' (each node checks health from its own zone; two in one zone defeat the partition guard)'
            : '';
        issues.push(
          source.issue(
            ['nodes', i, field],
            `${field} "${node[field]}" is already used by nodes[${first}]${why}`,
          ),
        );
      }
    });
  }
  // Votes are the controller's trust: without TLS anything that reaches a peer port can cast one.
  if (raw.peers?.tls === undefined && raw.peers?.insecure !== true)
    issues.push(
      source.issue(
        raw.peers === undefined ? [] : ['peers'],
        'peers needs tls (ca, cert, key: `lazarus certs` writes them) or, only for a trusted network, insecure: true',
      ),
    );
  if (raw.api?.tls !== undefined && raw.api.tls.key === undefined && raw.api.tls.key_env === undefined)
    issues.push(
      source.issue(
        ['api', 'tls'],
        "api.tls needs key (the key's file) or key_env (a variable holding the key's PEM)",
      ),
    );
  if (raw.peers?.tls !== undefined && raw.peers.insecure === true)
    issues.push(source.issue(['peers', 'insecure'], 'peers has both tls and insecure: true; say one'));
  // A node id is the name its certificate gives it (a DNS name): not an address, not a trailing dot,
  // and not two that differ only in case (TLS compares names case-insensitively).
  const lower = new Map<string, number>();
  raw.nodes.forEach((node, i) => {
    if (isIP(node.id) !== 0 || node.id.endsWith('.'))
      issues.push(
        source.issue(
          ['nodes', i, 'id'],
          `node id "${node.id}" must be a name, not an address or a name ending in "."`,
        ),
      );
    const first = lower.get(node.id.toLowerCase());
    if (first !== undefined && raw.nodes[first]?.id !== node.id)
      issues.push(
        source.issue(
          ['nodes', i, 'id'],
          `node id "${node.id}" differs from nodes[${first}]'s only in case; certificates could not tell them apart`,
        ),
      );
    else lower.set(node.id.toLowerCase(), i);
  });
  const inv = raw.inventory as { type: string; path?: string; url?: string; refresh?: string };
  if (inv.type === 'file' && inv.path === undefined)
    issues.push(source.issue(['inventory'], 'an inventory of type file needs "path"'));
  if (inv.type === 'http' && inv.url === undefined)
    issues.push(source.issue(['inventory'], 'an inventory of type http needs "url"'));
  const ms = (text: string | undefined, fallback: string): number => parseDuration(text ?? fallback) ?? 0;
  const redis = compileRedis(raw.redis, source, issues);
  const t = raw.thresholds ?? {};
  const maxEventAgeMs = ms(t.max_event_age, REGION_DEFAULTS.maxEventAge);
  const clockSkewToleranceMs = ms(t.clock_skew_tolerance, REGION_DEFAULTS.clockSkewTolerance);
  const dedupWindowMs = ms(t.dedup_window, REGION_DEFAULTS.dedupWindow);
  const retentionMs = ms(raw.audit?.retention, REGION_DEFAULTS.auditRetention);
  const minRetentionMs = minimumRetentionMs({ maxEventAgeMs, clockSkewToleranceMs, dedupWindowMs });
  // 0s keeps decisions for ever (no expiry, no trim by age): nothing is forgotten too soon.
  if (retentionMs > 0 && retentionMs < minRetentionMs) {
    issues.push(
      source.issue(
        ['audit', 'retention'],
        `retention ${formatDuration(retentionMs)} is shorter than ${formatDuration(minRetentionMs)} ` +
          '(max_event_age + clock_skew_tolerance + dedup_window): a decision is what makes a redelivered ' +
          'event "already decided"; forgotten sooner, the event would be decided, and acted on, twice',
      ),
    );
  }
  const pd = raw.pagerduty;
  const budgetMs = ms(pd?.budget, REGION_DEFAULTS.pageBudget);
  if (pd !== undefined && budgetMs > MAX_PAGE_BUDGET_MS) {
    issues.push(
      source.issue(
        ['pagerduty', 'budget'],
        `budget ${formatDuration(budgetMs)} is more than ${formatDuration(MAX_PAGE_BUDGET_MS)}: PagerDuty ` +
          'escalates by itself 60s after the page and one HTTP attempt may take 5s, so a longer budget ' +
          'lets an acknowledgement land after the humans were paged',
      ),
    );
  }
  if (issues.length > before || redis === undefined) return undefined;

  const refreshMs = ms(inv.refresh, REGION_DEFAULTS.inventoryRefresh);
  const notes = raw.notifications;
  return {
    region: raw.region,
    quorum,
    nodes: raw.nodes.map((node) => ({
      id: node.id,
      zone: node.zone,
      grpc: node.grpc,
      api: node.api,
      ...(node.listen === undefined ? {} : { listen: node.listen }),
      ...(node.source_address === undefined ? {} : { sourceAddress: node.source_address }),
    })),
    kinesis: {
      stream: raw.kinesis.stream,
      ...(raw.kinesis.region === undefined ? {} : { region: raw.kinesis.region }),
      ...(raw.kinesis.endpoint === undefined ? {} : { endpoint: raw.kinesis.endpoint }),
      shards: raw.kinesis.shards ?? REGION_DEFAULTS.shards,
      pollMs: ms(raw.kinesis.poll_interval, REGION_DEFAULTS.pollInterval),
      leaseTtlMs: ms(raw.kinesis.lease_ttl, REGION_DEFAULTS.leaseTtl),
    },
    redis,
    inventory:
      inv.type === 'file'
        ? { type: 'file', path: inv.path ?? '', refreshMs }
        : { type: 'http', url: inv.url ?? '', refreshMs },
    ...(raw.orchestrator === undefined ? {} : { orchestrator: { url: raw.orchestrator.url } }),
    thresholds: {
      maxEventAgeMs,
      clockSkewToleranceMs,
      dedupWindowMs,
      breakerThreshold: t.breaker_threshold ?? REGION_DEFAULTS.breakerThreshold,
      breakerWindowMs: ms(t.breaker_window, REGION_DEFAULTS.breakerWindow),
      voteTimeoutMs: ms(t.vote_timeout, REGION_DEFAULTS.voteTimeout),
      probeCacheMs:
        t.probe_cache === undefined
          ? (parseDuration(REGION_DEFAULTS.probeCache) ?? 0)
          : ms(t.probe_cache, '0s'),
    },
    events: { maxBytes: raw.events?.max_bytes ?? REGION_DEFAULTS.maxEventBytes },
    workflows: {
      leaseTtlMs: ms(raw.workflows?.lease_ttl, REGION_DEFAULTS.runLeaseTtl),
      ...(raw.workflows?.exec_dir === undefined ? {} : { execDir: resolve(dir, raw.workflows.exec_dir) }),
      stepConcurrency: raw.workflows?.step_concurrency ?? REGION_DEFAULTS.stepConcurrency,
    },
    peers:
      raw.peers?.tls === undefined
        ? { insecure: true as const }
        : {
            tls: {
              ca: resolve(dir, raw.peers.tls.ca),
              cert: resolve(dir, raw.peers.tls.cert),
              key: resolve(dir, raw.peers.tls.key),
              ...(raw.peers.tls.key_env === undefined ? {} : { keyEnv: raw.peers.tls.key_env }),
            },
          },
    api: {
      tokenEnv: raw.api?.token_env ?? REGION_DEFAULTS.apiTokenEnv,
      protectReads: raw.api?.protect_reads ?? false,
      tokens: (raw.api?.tokens ?? []).map((t) => ({ name: t.name, env: t.env, roles: t.roles })),
      // Paths relative to the configuration directory, as the peers'; `{node}` is replaced by each node.
      ...(raw.api?.tls === undefined
        ? {}
        : {
            tls: {
              cert: resolve(dir, raw.api.tls.cert),
              ...(raw.api.tls.key === undefined ? {} : { key: resolve(dir, raw.api.tls.key) }),
              ...(raw.api.tls.key_env === undefined ? {} : { keyEnv: raw.api.tls.key_env }),
            },
          }),
    },
    ...(pd === undefined
      ? {}
      : {
          pagerduty: {
            url: pd.url ?? REGION_DEFAULTS.pagerDutyUrl,
            tokenEnv: pd.token_env ?? REGION_DEFAULTS.pagerDutyTokenEnv,
            from: pd.from,
            budgetMs,
            incidentGraceMs: ms(pd.incident_grace, REGION_DEFAULTS.incidentGrace),
            ...(pd.user_id === undefined ? {} : { userId: pd.user_id }),
            requestsPerMinute: pd.requests_per_minute ?? REGION_DEFAULTS.pagerDutyRequestsPerMinute,
          },
        }),
    notifications: {
      slackWebhooks: Object.fromEntries(
        Object.entries(notes?.slack_webhooks ?? {}).map(([channel, hook]) => [
          channel,
          typeof hook === 'string' ? { url: hook } : { urlEnv: hook.url_env },
        ]),
      ),
      ...(notes?.smtp === undefined
        ? {}
        : {
            smtp: {
              host: notes.smtp.host,
              port: notes.smtp.port ?? REGION_DEFAULTS.smtpPort,
              secure: notes.smtp.secure ?? false,
              from: notes.smtp.from,
              ...(notes.smtp.user_env === undefined ? {} : { userEnv: notes.smtp.user_env }),
              ...(notes.smtp.password_env === undefined ? {} : { passwordEnv: notes.smtp.password_env }),
            },
          }),
      teams: notes?.teams ?? {},
      fallback: notes?.fallback ?? [],
    },
    audit: {
      retentionMs,
      maxEvents: raw.audit?.max_events ?? REGION_DEFAULTS.auditMaxEvents,
    },
    sensors: {
      alertmanager: raw.sensors?.alertmanager ?? {},
      datadog: raw.sensors?.datadog ?? {},
      awsEnvironment: raw.sensors?.aws?.environment ?? 'prod',
    },
  };
}

/** The longest `redis.replica_ack.timeout`: a `WAIT` must answer before the client's 500 ms command timeout. */
export const MAX_REPLICA_ACK_MS = 400;

/**
 * `redis` by its `mode`: each mode's own fields, and none of another mode's (a `url` beside
 * `sentinels` would leave a reader unsure which one is used). Replicas acknowledge a lock by
 * default where the mode has replicas (sentinel, cluster); `replica_ack.replicas: 0` says there
 * are none (a cluster of primaries only), and a failover can then forget a lock.
 */
function compileRedis(
  raw: RawRegion['redis'],
  source: YamlSource,
  issues: ConfigIssue[],
): CompiledRedis | undefined {
  const mode = raw.mode ?? 'standalone';
  const own = {
    standalone: ['url', 'url_env'],
    sentinel: ['sentinels', 'master'],
    cluster: ['nodes'],
  } as const;
  const before = issues.length;
  if (mode === 'standalone' && (raw.url === undefined) === (raw.url_env === undefined))
    issues.push(source.issue(['redis'], 'redis mode standalone needs "url" or "url_env" (one of them)'));
  for (const field of mode === 'standalone' ? [] : own[mode])
    if (raw[field] === undefined) issues.push(source.issue(['redis'], `redis mode ${mode} needs "${field}"`));
  for (const [other, fields] of Object.entries(own))
    for (const field of other === mode ? [] : fields)
      if (raw[field] !== undefined)
        issues.push(
          source.issue(['redis', field], `"${field}" is for redis mode ${other}, not ${mode}`, true),
        );
  const timeoutMs = parseDuration(raw.replica_ack?.timeout ?? REGION_DEFAULTS.replicaAckTimeout) ?? 0;
  if (timeoutMs < 1 || timeoutMs > MAX_REPLICA_ACK_MS)
    issues.push(
      source.issue(
        ['redis', 'replica_ack', 'timeout'],
        `timeout ${formatDuration(timeoutMs)} must be between 1ms and ${formatDuration(MAX_REPLICA_ACK_MS)} ` +
          '(a WAIT must answer before the Redis command timeout of 500ms)',
      ),
    );
  if (issues.length > before) return undefined;
  // The schema has checked the shape; an address it let through always splits.
  const addresses = (list: readonly string[] | undefined): RedisAddress[] =>
    (list ?? []).map((address) => splitHostPort(address) ?? { host: address, port: 0 });
  const topology =
    mode === 'standalone'
      ? { mode, url: raw.url_env === undefined ? { url: raw.url ?? '' } : { urlEnv: raw.url_env } }
      : mode === 'sentinel'
        ? { mode, sentinels: addresses(raw.sentinels), master: raw.master ?? '' }
        : { mode, nodes: addresses(raw.nodes) };
  return {
    ...topology,
    keyPrefix: raw.key_prefix ?? REGION_DEFAULTS.keyPrefix,
    ...(raw.password_env === undefined ? {} : { passwordEnv: raw.password_env }),
    replicaAck: { replicas: raw.replica_ack?.replicas ?? (mode === 'standalone' ? 0 : 1), timeoutMs },
  };
}

/**
 * Secrets written in region.yaml rather than named by an environment variable: each a warning
 * (`lazarus validate`, the node's start log). A Slack incoming webhook's URL is its credential; a
 * Redis URL may carry a password.
 */
export function literalSecrets(region: CompiledRegion): string[] {
  const out: string[] = [];
  for (const [channel, hook] of Object.entries(region.notifications.slackWebhooks))
    if ('url' in hook)
      out.push(
        `notifications.slack_webhooks["${channel}"]: the webhook URL is a secret written in region.yaml; name an environment variable instead ({ url_env: NAME })`,
      );
  const redis = region.redis;
  if (redis.mode === 'standalone' && 'url' in redis.url && /^rediss?:\/\/[^@/]*:[^@/]+@/.test(redis.url.url))
    out.push('redis.url: the URL carries a password written in region.yaml; use url_env or password_env');
  return out;
}

/** Every environment variable the region names for a secret, with what it is for. */
export function environmentVariables(
  region: CompiledRegion,
): { readonly name: string; readonly what: string }[] {
  const out: { name: string; what: string }[] = [{ name: region.api.tokenEnv, what: 'api.token_env' }];
  for (const t of region.api.tokens) out.push({ name: t.env, what: `api.tokens "${t.name}"` });
  if (region.api.tls?.keyEnv !== undefined)
    out.push({ name: region.api.tls.keyEnv, what: 'api.tls.key_env' });
  if ('tls' in region.peers && region.peers.tls.keyEnv !== undefined)
    out.push({ name: region.peers.tls.keyEnv, what: 'peers.tls.key_env' });
  if (region.pagerduty !== undefined)
    out.push({ name: region.pagerduty.tokenEnv, what: 'pagerduty.token_env' });
  const redis = region.redis;
  if (redis.mode === 'standalone' && 'urlEnv' in redis.url)
    out.push({ name: redis.url.urlEnv, what: 'redis.url_env' });
  if (redis.passwordEnv !== undefined) out.push({ name: redis.passwordEnv, what: 'redis.password_env' });
  for (const [channel, hook] of Object.entries(region.notifications.slackWebhooks))
    if ('urlEnv' in hook)
      out.push({ name: hook.urlEnv, what: `notifications.slack_webhooks["${channel}"].url_env` });
  const smtp = region.notifications.smtp;
  if (smtp?.userEnv !== undefined) out.push({ name: smtp.userEnv, what: 'notifications.smtp.user_env' });
  if (smtp?.passwordEnv !== undefined)
    out.push({ name: smtp.passwordEnv, what: 'notifications.smtp.password_env' });
  return out;
}
