/**
 * The real pipeline in this process, for tests that need to drive it record by record or move its
 * clock: a private redis-server, the fleet simulator as inventory and health checks, the shipped
 * rules and profiles, the real decision store and safety gates, and three evaluators (one per node
 * of `deploy/local`, each probing from its own source address) as the voters. Only the gRPC hop and
 * the Kinesis reader are left out; the three-node tests cover those.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import YAML from 'yaml';
import { CHECKS } from '../../src/checks/registry.js';
import type { Voter } from '../../src/cluster/quorum.js';
import { RedisKeys } from '../../src/common/keys.js';
import { loadConfigOrThrow } from '../../src/config/load.js';
import type { CompiledConfig } from '../../src/config/types.js';
import { defaultCatalog } from '../../src/controller/catalog.js';
import { DecisionStore } from '../../src/controller/decision-store.js';
import type { RejectedRecord } from '../../src/controller/decision-store.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import { Evaluator } from '../../src/controller/evaluator.js';
import { Pipeline } from '../../src/controller/pipeline.js';
import type { Handled } from '../../src/controller/pipeline.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import type { StreamRecord } from '../../src/ingest/stream-record.js';
import { HttpInventory } from '../../src/inventory/http-provider.js';
import { Matcher } from '../../src/matching/matcher.js';
import { GateWindows } from '../../src/safety/gate-windows.js';
import { ResourceLocks } from '../../src/safety/lock.js';
import { RecentRemediations } from '../../src/safety/remediations.js';
import { FleetSimulator } from '../../src/sim/fleet.js';
import type { FleetSpec } from '../../src/sim/fleet.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';

const REPO = join(import.meta.dirname, '..', '..');

/** A clock that moves only when told to. */
export class ManualClock {
  constructor(public ms = Date.parse('2026-12-01T03:00:00Z')) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
  iso(): string {
    return new Date(this.ms).toISOString();
  }
}

export interface PipelineRigOptions {
  readonly fleet?: FleetSpec;
  /** A services file (YAML) instead of `deploy/local`'s. */
  readonly services?: string;
  /** Changes to `thresholds` of the region file (`{ breaker_threshold: 3 }`). */
  readonly thresholds?: Record<string, unknown>;
}

/** What one key prefix holds: the pipeline and the stores it writes, for a test to read. */
interface Parts {
  readonly keys: RedisKeys;
  readonly pipeline: Pipeline;
  readonly store: DecisionStore;
  readonly recent: RecentRemediations;
  readonly locks: ResourceLocks;
}

export class PipelineRig {
  private sequence = 0;
  /** Called while the votes of an event are being collected (after the gates, before the lock). */
  duringVotes: (() => Promise<void>) | undefined;

  private constructor(
    readonly config: CompiledConfig,
    readonly redis: Redis,
    readonly fleet: FleetSimulator,
    readonly clock: ManualClock,
    private readonly server: RedisProcess,
    private readonly dir: string,
    private readonly make: (keys: RedisKeys) => Parts,
    private parts: Parts,
  ) {}

  static async start(options: PipelineRigOptions = {}): Promise<PipelineRig> {
    const server = await startRedis();
    const fleet = await FleetSimulator.start(options.fleet === undefined ? {} : { spec: options.fleet });
    const dir = await mkdtemp(join(tmpdir(), 'lz-pipeline-'));
    const source = join(REPO, 'deploy', 'local');
    const region = YAML.parse(await readFile(join(source, 'region.yaml'), 'utf8')) as Record<string, unknown>;
    // The pagerduty section stays (channels that name it must load); the rig has no responder.
    const rest = region;
    if (options.services !== undefined) await writeFile(join(dir, 'services.yaml'), options.services);
    await writeFile(
      join(dir, 'region.yaml'),
      YAML.stringify({
        ...rest,
        paths: {
          rules: join(REPO, 'rules'),
          profiles: join(REPO, 'profiles'),
          workflows: join(REPO, 'workflows'),
          services:
            options.services === undefined ? join(source, 'services.yaml') : join(dir, 'services.yaml'),
        },
        redis: { url: server.url, key_prefix: 'lz:' },
        inventory: { type: 'http', url: `${fleet.url}/v1/inventory`, refresh: '0s' },
        orchestrator: { url: fleet.url },
        thresholds: { ...(rest['thresholds'] as object), vote_timeout: '3s', ...(options.thresholds ?? {}) },
      }),
    );
    const config = await loadConfigOrThrow(dir, defaultCatalog()).catch(async (error: unknown) => {
      await Promise.all([fleet.close(), server.stop(), rm(dir, { recursive: true, force: true })]);
      throw error;
    });
    const redis = await connectRedis(server.url, { commandTimeoutMs: 2000 });
    const clock = new ManualClock();
    const inventoryUrl = `${fleet.url}/v1/inventory`;
    const evaluators = config.region.nodes.map(
      (node) =>
        new Evaluator({
          node,
          inventory: new HttpInventory(inventoryUrl, 0),
          checks: CHECKS,
          probeCacheMs: 0,
        }),
    );
    const log = pino({ level: process.env['LAZARUS_LOG_LEVEL'] ?? 'silent' });
    const make = (keys: RedisKeys): Parts => {
      const store = new DecisionStore(redis, keys, config.region.audit.retentionMs);
      const recent = new RecentRemediations(redis, keys);
      const locks = new ResourceLocks(redis, keys);
      const pipeline = new Pipeline({
        config,
        matcher: new Matcher(config.services),
        store,
        gates: {
          windows: new GateWindows(redis, keys),
          locks,
          recent,
        },
        node: config.region.nodes[0]!,
        log,
        now: clock.now,
        voters: (event, _rule, checks) =>
          evaluators.map((e, i): Voter => ({
            node: config.region.nodes[i]!.id,
            vote: async () => {
              if (i === 0) await rig.duringVotes?.();
              return e.vote(event, checks);
            },
          })),
      });
      return { keys, pipeline, store, recent, locks };
    };
    const rig: PipelineRig = new PipelineRig(
      config,
      redis,
      fleet,
      clock,
      server,
      dir,
      make,
      make(freshKeys()),
    );
    return rig;
  }

  get keys(): RedisKeys {
    return this.parts.keys;
  }
  get store(): DecisionStore {
    return this.parts.store;
  }
  get recent(): RecentRemediations {
    return this.parts.recent;
  }
  get locks(): ResourceLocks {
    return this.parts.locks;
  }

  /** A fresh key prefix (and pipeline), the fleet without faults: one test's traces are not the next one's. */
  async reset(): Promise<void> {
    await this.parts.pipeline.flush();
    this.parts = this.make(freshKeys());
    this.duringVotes = undefined;
    this.fleet.clear();
  }
  /** A stream record of `data` on `shard`, arrived now by the rig's clock, with the next sequence number. */
  record(
    data: Uint8Array | string | object,
    partitionKey = 'p',
    shard = 'shardId-000000000000',
  ): StreamRecord {
    this.sequence += 1;
    const bytes =
      data instanceof Uint8Array ? data : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
    return {
      shardId: shard,
      sequenceNumber: String(49_000_000_000n + BigInt(this.sequence)),
      partitionKey,
      data: bytes,
      arrivalMs: this.clock.ms,
    };
  }

  /** A HARD host-down event, timed by the rig's clock. */
  hostDown(service: string, host: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    this.sequence += 1;
    return {
      id: `p-${this.sequence}-${randomBytes(3).toString('hex')}`,
      type: 'NagiosHostAlarm',
      source: 'test',
      time: this.clock.iso(),
      environment: 'prod',
      service,
      host,
      data: { host_state: 'DOWN', host_state_type: 'HARD' },
      ...overrides,
    };
  }

  handle(records: readonly StreamRecord[]): Promise<Handled[]> {
    return this.parts.pipeline.handleBatch(records);
  }

  decision(eventId: string): Promise<DecisionRecord | undefined> {
    return this.store.get(eventId);
  }

  async rejected(): Promise<RejectedRecord[]> {
    return this.store.rejectedRecords(10_000);
  }

  async stop(): Promise<void> {
    await this.parts.pipeline.flush();
    await this.redis.quit().catch(() => undefined);
    await this.fleet.close();
    await this.server.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

function freshKeys(): RedisKeys {
  return new RedisKeys(`t:${randomBytes(5).toString('hex')}:`);
}
