/**
 * One controller node: the composition root. It creates the clients (Redis, Kinesis, gRPC), the
 * inventory, this node's evaluator and the pipeline, and runs them until it is told to stop.
 *
 * Lifecycle: `starting` → `running` → `draining` (SIGTERM: no new shards; each reader finishes its
 * batch and checkpoints; leases released so that the peers take over at once) → `stopped`.
 * `failed` when it could not start.
 */
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { CHECKS } from '../checks/registry.js';
import { PeerClient } from '../cluster/peer-client.js';
import { PeerServer } from '../cluster/peer-server.js';
import type { Voter } from '../cluster/quorum.js';
import { RedisKeys } from '../common/keys.js';
import { loadConfigOrThrow } from '../config/load.js';
import type { ClusterNode, CompiledConfig } from '../config/types.js';
import { Consumer } from '../ingest/consumer.js';
import { kinesisClient } from '../ingest/kinesis-client.js';
import { ShardLeases } from '../ingest/shard-leases.js';
import { FileInventory } from '../inventory/file-provider.js';
import { HttpInventory } from '../inventory/http-provider.js';
import type { InventoryProvider } from '../inventory/types.js';
import { Matcher } from '../matching/matcher.js';
import { defaultCatalog } from './catalog.js';
import { DecisionStore } from './decision-store.js';
import { Evaluator, fromVoteMessage, toCheckMessage } from './evaluator.js';
import { Pipeline } from './pipeline.js';
import { connectRedis } from './redis-client.js';
import { resolve } from 'node:path';
import { ACTIONS } from '../actions/registry.js';
import { RecordingNotifier } from '../notify/recording-notifier.js';
import { RecordingPager } from '../pager/recording-pager.js';
import { CircuitBreaker } from '../safety/circuit-breaker.js';
import { Deduplicator } from '../safety/dedup.js';
import { ResourceLocks } from '../safety/lock.js';
import { RateLimiter } from '../safety/rate-limiter.js';
import { newRun } from '../workflow/engine.js';
import { RedisRunStore } from '../workflow/redis-store.js';
import { RunSupervisor } from '../workflow/supervisor.js';
import { LOCK_MARGIN_MS } from './pipeline.js';
import { stepExecutor } from './step-executor.js';

export type NodeState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface NodeOptions {
  readonly configDir: string;
  readonly nodeId: string;
  readonly log?: Logger;
}

export class ControllerNode {
  state: NodeState = 'starting';
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: CompiledConfig,
    readonly self: ClusterNode,
    readonly log: Logger,
    private readonly redis: Redis,
    private readonly server: PeerServer,
    private readonly peers: PeerClient[],
    private readonly consumer: Consumer,
    private readonly pipeline: Pipeline,
    private readonly runs: RunSupervisor,
  ) {}

  static async start(options: NodeOptions): Promise<ControllerNode> {
    const config = await loadConfigOrThrow(options.configDir, defaultCatalog());
    const self = config.region.nodes.find((n) => n.id === options.nodeId);
    if (self === undefined) {
      throw new Error(
        `node "${options.nodeId}" is not in ${options.configDir}; nodes: ${config.region.nodes.map((n) => n.id).join(', ')}`,
      );
    }
    const log = (options.log ?? pino({ base: { node: self.id } })).child({ zone: self.zone });
    log.info(
      { region: config.region.region, grpc: self.grpc, quorum: config.region.quorum },
      'node starting',
    );

    const redis = await connectRedis(config.region.redis.url, { connectionName: `lazarus-${self.id}` });
    const keys = new RedisKeys(config.region.redis.keyPrefix);
    const inventory = inventoryOf(config, options.configDir);
    const evaluator = new Evaluator({
      node: self,
      inventory,
      checks: CHECKS,
      probeCacheMs: config.region.thresholds.probeCacheMs,
    });
    const store = new DecisionStore(redis, keys);
    const peers = config.region.nodes
      .filter((n) => n.id !== self.id)
      .map((n) => new PeerClient(n.id, n.grpc));

    let state: () => NodeState = () => 'starting';
    const { server } = await PeerServer.start(self.grpc, {
      evaluate: (request) => {
        log.debug({ event: request.rule_id, from: request.coordinator }, 'evaluating for a peer');
        return evaluator.answer(request);
      },
      ping: () => ({ node_id: self.id, zone: self.zone, state: state() }),
    });

    const locks = new ResourceLocks(redis, keys);
    const runStore = new RedisRunStore(redis, keys);
    const runs = new RunSupervisor({
      redis,
      keys,
      store: runStore,
      nodeId: self.id,
      leaseTtlMs: config.region.workflows.leaseTtlMs,
      workflows: config.workflows,
      log,
      // Paging and notifications are recorded, not sent, until the PagerDuty and notification modules land.
      execute: stepExecutor(ACTIONS, {
        pager: new RecordingPager(),
        notifier: new RecordingNotifier(),
        execDir: config.region.workflows.execDir,
        ...(self.sourceAddress === undefined ? {} : { sourceAddress: self.sourceAddress }),
      }),
      engine: { concurrency: config.region.workflows.stepConcurrency },
      renewLock: async (run) => {
        if (run.lock === undefined) return;
        const left = Date.parse(run.deadline_at) - Date.now();
        await locks.renew(
          run.lock.resource,
          run.lock.owner,
          run.lock.token,
          Math.max(left, 0) + LOCK_MARGIN_MS,
        );
      },
      onEnd: async (run) => {
        // The lock never outlives the run that took it, whatever the outcome.
        if (run.lock !== undefined) await locks.release(run.lock.resource, run.lock.owner, run.lock.token);
      },
    });

    const timeoutMs = config.region.thresholds.voteTimeoutMs;
    const pipeline = new Pipeline({
      config,
      matcher: new Matcher(config.services),
      store,
      gates: {
        rate: new RateLimiter(redis, keys),
        breaker: new CircuitBreaker(redis, keys),
        locks,
        dedup: new Deduplicator(redis, keys),
      },
      node: self,
      log,
      onAct: async (decision, rule, event) => {
        const service = config.services.get(event.service);
        if (service?.parameters.mode === 'notify_only') {
          log.info(
            { event: event.id, workflow: rule.action.workflow },
            `notify_only: would have run ${rule.action.workflow}`,
          );
          if (decision.lock !== undefined)
            await locks.release(decision.lock.resource, decision.lock.owner, decision.lock.token);
          return;
        }
        const workflow = config.workflows.get(rule.action.workflow);
        if (workflow === undefined)
          throw new Error(
            `rule ${rule.id} names workflow ${rule.action.workflow}, which this node does not have`,
          );
        await runs.begin(
          newRun(
            {
              id: `run-${event.id}`,
              workflow: workflow.name,
              event: { ...event },
              rule: { id: rule.id, name: rule.name, inputs: rule.action.inputs },
              params: Object.fromEntries(
                Object.entries(service?.parameters.values ?? {}).map(([k, v]) => [k, v.value]),
              ),
              region: { name: config.region.region, orchestrator_url: config.region.orchestrator?.url ?? '' },
              timeoutMs: service?.parameters.workflowTimeoutMs ?? 30 * 60_000,
              ...(decision.lock === undefined
                ? {}
                : {
                    lock: {
                      resource: decision.lock.resource,
                      owner: decision.lock.owner,
                      token: decision.lock.token,
                    },
                  }),
            },
            workflow,
          ),
        );
      },
      voters: (event, rule, checks) => {
        const local: Voter = { node: self.id, vote: () => evaluator.vote(event, checks) };
        const request = {
          event_json: JSON.stringify(event),
          rule_id: rule.id,
          checks: checks.map(toCheckMessage),
          coordinator: self.id,
        };
        return [
          local,
          ...peers.map((peer): Voter => ({
            node: peer.nodeId,
            vote: async (signal) => fromVoteMessage(await peer.evaluate(request, timeoutMs, signal)),
          })),
        ];
      },
    });

    const kinesis = kinesisClient({
      region: config.region.kinesis.region,
      ...(config.region.kinesis.endpoint === undefined ? {} : { endpoint: config.region.kinesis.endpoint }),
    });
    const leases = new ShardLeases(redis, keys, self.id, config.region.kinesis.leaseTtlMs);
    const consumer = new Consumer({
      kinesis,
      stream: config.region.kinesis.stream,
      leases,
      log,
      pollMs: config.region.kinesis.pollMs,
      handle: async (_shard, records) => {
        await pipeline.handleBatch(records);
      },
    });

    const node = new ControllerNode(config, self, log, redis, server, peers, consumer, pipeline, runs);
    state = () => node.state;
    consumer.start();
    runs.start();
    node.state = 'running';
    log.info({ grpc: self.grpc }, 'node running');
    return node;
  }

  /** Shards this node reads now. */
  shards(): string[] {
    return this.consumer.held();
  }

  /** Clean shutdown; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.state = 'draining';
    this.log.info('draining: finishing the batches in hand, then releasing the shard leases');
    await this.consumer.stop();
    await this.pipeline.flush();
    // Runs in hand get a moment to finish; the rest are continued by a peer once their leases lapse.
    await this.runs.stop(5000);
    // Peers may still be asking for votes on events they coordinate; answer for a moment more.
    await this.server.stop(1000);
    for (const peer of this.peers) peer.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
    this.state = 'stopped';
    this.log.info('node stopped');
  }
}

function inventoryOf(config: CompiledConfig, configDir: string): InventoryProvider {
  const inv = config.region.inventory;
  return inv.type === 'file'
    ? new FileInventory(resolve(configDir, inv.path), inv.refreshMs)
    : new HttpInventory(inv.url, inv.refreshMs);
}
