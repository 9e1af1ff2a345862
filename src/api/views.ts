/**
 * What `GET /v1/services` and `GET /v1/cluster` show, read from the configuration and Redis. Read
 * only: the breaker's state is read as stored, never through the breaker's own script (which would
 * record a change), and the rate windows are counted, not hit.
 */
import type { RedisClient } from '../common/redis.js';
import { serverOf } from '../common/redis-node.js';
import { redisFailure } from '../common/dependency.js';
import type { RedisKeys } from '../common/keys.js';
import type { CompiledConfig } from '../config/types.js';

export interface ServiceView {
  readonly name: string;
  readonly profile: string;
  readonly team?: string;
  readonly mode: 'enforce' | 'notify_only';
  readonly rules: readonly string[];
  readonly rate_limit: {
    /** Events of the service in the rate window now. */
    readonly count: number;
    readonly threshold: number;
    readonly window_ms: number;
    /** `count > threshold`: actions on the service are suspended. */
    readonly limited: boolean;
  };
}

export interface NodeView {
  readonly id: string;
  readonly zone: string;
  readonly grpc: string;
  readonly api: string;
  /** `up`: a heartbeat within the shard lease TTL; `down`: an older one, or none (never started, or left). */
  readonly state: 'up' | 'down';
  readonly last_heartbeat: string | null;
  readonly heartbeat_age_ms: number | null;
  /** Shards whose lease the node holds. */
  readonly shards: readonly string[];
}

export interface ShardView {
  readonly id: string;
  /** Node holding the lease; `null`: nobody (being taken over, or no node running). */
  readonly holder: string | null;
  /** Last sequence number with a durable decision. */
  readonly checkpoint: string | null;
}

export interface BreakerChangeView {
  readonly state: 'open' | 'closed';
  readonly at: string;
  readonly services: readonly string[];
  readonly count: number;
}

export interface ClusterView {
  readonly region: string;
  readonly stream: string;
  /** The node that answered. */
  readonly self?: string;
  readonly quorum: number;
  readonly nodes_up: number;
  /** Enough nodes are up to reach a quorum. */
  readonly has_quorum: boolean;
  readonly nodes: readonly NodeView[];
  readonly shards: readonly ShardView[];
  readonly breaker: {
    /** The state the breaker last recorded (it changes on the next event's gate). */
    readonly state: 'open' | 'closed';
    /** Failing services in the window now, and whether that is over the threshold. */
    readonly services: number;
    readonly open_now: boolean;
    readonly threshold: number;
    readonly window_ms: number;
    /** The latest changes, newest first. */
    readonly history: readonly BreakerChangeView[];
  };
}

const BREAKER_HISTORY_SHOWN = 20;
/** SCAN rounds at most when looking for lease keys (shards are a handful; keys may be millions). */
const LEASE_SCAN_ROUNDS = 200;

export async function servicesView(
  redis: RedisClient,
  keys: RedisKeys,
  config: CompiledConfig,
  nowMs: number,
): Promise<ServiceView[]> {
  const services = [...config.services.values()].sort((a, b) => a.name.localeCompare(b.name));
  const pipeline = redis.pipeline();
  for (const s of services)
    pipeline.zcount(keys.rateWindow(s.name), `(${nowMs - s.parameters.rateLimitWindowMs}`, '+inf');
  const counts = await results<number>(pipeline.exec());
  return services.map((s, i) => {
    const count = counts[i] ?? 0;
    const threshold = s.parameters.rateLimitThreshold;
    return {
      name: s.name,
      profile: s.profile,
      ...(s.team === undefined ? {} : { team: s.team }),
      mode: s.parameters.mode,
      rules: s.rules.map((r) => r.id),
      rate_limit: { count, threshold, window_ms: s.parameters.rateLimitWindowMs, limited: count > threshold },
    };
  });
}

export async function clusterView(
  redis: RedisClient,
  keys: RedisKeys,
  config: CompiledConfig,
  nowMs: number,
  shardIds: readonly string[] | undefined,
  self: string | undefined,
): Promise<ClusterView> {
  const { region } = config;
  const shards = [...(shardIds ?? (await leasedShards(redis, keys)))].sort();
  const pipeline = redis.pipeline();
  for (const n of region.nodes) pipeline.zscore(keys.members, n.id);
  for (const s of shards) pipeline.get(keys.lease(s));
  for (const s of shards) pipeline.get(keys.checkpoint(s));
  pipeline.get(keys.breakerState);
  pipeline.zcount(keys.breakerWindow, `(${nowMs - region.thresholds.breakerWindowMs}`, '+inf');
  pipeline.lrange(keys.breakerHistory, 0, BREAKER_HISTORY_SHOWN - 1);
  const replies = await results<unknown>(pipeline.exec());

  let at = 0;
  const take = <T>(): T => replies[at++] as T;
  const heartbeats = region.nodes.map(() => take<string | null>());
  const leases = shards.map(() => take<string | null>());
  const checkpoints = shards.map(() => take<string | null>());
  const breakerState = take<string | null>();
  const failing = take<number>();
  const history = take<string[]>();

  const shardViews: ShardView[] = shards.map((id, i) => ({
    id,
    // `node:token`, as the leases write it (ShardLeases.holders reads it the same way).
    holder: leases[i]?.split(':')[0] ?? null,
    checkpoint: checkpoints[i] ?? null,
  }));
  const nodes: NodeView[] = region.nodes.map((n, i) => {
    const beat = heartbeats[i];
    const beatMs = beat === null || beat === undefined ? undefined : Number(beat);
    const age = beatMs === undefined ? null : Math.max(0, nowMs - beatMs);
    return {
      id: n.id,
      zone: n.zone,
      grpc: n.grpc,
      api: n.api,
      state: age !== null && age <= region.kinesis.leaseTtlMs ? 'up' : 'down',
      last_heartbeat: beatMs === undefined ? null : new Date(beatMs).toISOString(),
      heartbeat_age_ms: age,
      shards: shardViews.filter((s) => s.holder === n.id).map((s) => s.id),
    };
  });
  const up = nodes.filter((n) => n.state === 'up').length;
  return {
    region: region.region,
    stream: region.kinesis.stream,
    ...(self === undefined ? {} : { self }),
    quorum: region.quorum,
    nodes_up: up,
    has_quorum: up >= region.quorum,
    nodes,
    shards: shardViews,
    breaker: {
      // `open:<when it opened>` (`open` as an older release wrote it).
      state: breakerState?.split(':')[0] === 'open' ? 'open' : 'closed',
      services: failing,
      open_now: failing > region.thresholds.breakerThreshold,
      threshold: region.thresholds.breakerThreshold,
      window_ms: region.thresholds.breakerWindowMs,
      history: history.flatMap((text) => parseChange(text)),
    },
  };
}

/** Shards with a lease key now (a shard nobody holds has none, so it is not listed). */
export async function leasedShards(redis: RedisClient, keys: RedisKeys): Promise<string[]> {
  const prefix = keys.lease('');
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  const found = new Set<string>();
  // In a cluster, SCAN reads one node: the one that holds the region's slot.
  const server = serverOf(redis, prefix);
  if (server === undefined)
    throw redisFailure('scan leases', new Error("the cluster knows no primary for the region's slot"));
  let cursor = '0';
  for (let round = 0; round < LEASE_SCAN_ROUNDS; round++) {
    const [next, batch] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (const key of batch) found.add(key.slice(prefix.length));
    cursor = next;
    if (cursor === '0') break;
  }
  return [...found];
}

async function results<T>(replies: Promise<[Error | null, unknown][] | null>): Promise<T[]> {
  const settled = (await replies) ?? [];
  return settled.map(([error, value]) => {
    if (error !== null) throw error;
    return value as T;
  });
}

function parseChange(text: string): BreakerChangeView[] {
  try {
    const v = JSON.parse(text) as { state?: unknown; at?: unknown; services?: unknown; count?: unknown };
    if ((v.state !== 'open' && v.state !== 'closed') || typeof v.at !== 'number') return [];
    return [
      {
        state: v.state,
        at: new Date(v.at).toISOString(),
        services: Array.isArray(v.services) ? v.services.filter((s) => typeof s === 'string') : [],
        count: typeof v.count === 'number' ? v.count : 0,
      },
    ];
  } catch {
    return [];
  }
}
