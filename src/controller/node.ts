/**
 * One controller node: the composition root. It creates the clients (Redis, Kinesis, gRPC), the
 * inventory, this node's evaluator and the pipeline, and runs them until it is told to stop.
 *
 * Lifecycle: `starting` → `running` → `draining` (SIGTERM: no new shards; each reader finishes its
 * batch and checkpoints; leases released so that the peers take over at once) → `stopped`.
 * `failed` when it could not start (what it had opened is closed again, and `start` rejects with
 * `LZ_ERR_NODE_START`, state `failed`), or could not stop cleanly.
 *
 * What the node does is in the modules it wires: the pipeline (pipeline.ts), the workflow dispatch
 * (dispatch.ts), the voters (voters.ts), the responder (responder.ts).
 */
import type { RedisClient } from '../common/redis.js';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { CHECKS } from '../checks/registry.js';
import { PeerClient } from '../cluster/peer-client.js';
import { PeerServer } from '../cluster/peer-server.js';
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
import { Evaluator } from './evaluator.js';
import { LateVotes } from './late-votes.js';
import { Pipeline } from './pipeline.js';
import { connectRegionRedis } from './redis-client.js';
import { literalSecrets } from '../config/region.js';
import { resolve } from 'node:path';
import { ACTIONS } from '../actions/registry.js';
import { ListShardsCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { ApiServer } from '../api/server.js';
import { Metrics } from '../metrics/metrics.js';
import { AuditLog } from '../audit/log.js';
import type { Notifier } from '../notify/notifier.js';
import type { DeliveryRecord, NotifyMessage } from '../notify/notifier.js';
import { PagerError, PagerErrorCodes } from '../pager/errors.js';
import type { PagerDutyPager } from '../pager/pagerduty-pager.js';
import type { PagerPort } from '../actions/definition.js';
import { Responder } from './responder.js';
import {
  apiCertificateOf,
  breakerNotes,
  directoryOf,
  notifierOf,
  pagerOf,
  peerIdentityOf,
  reloadApiCertificate,
  retentionTimer,
} from './parts.js';
import { ControllerErrorCodes } from './errors.js';
import { LzError } from '../common/errors.js';
import { GateWindows } from '../safety/gate-windows.js';
import { ResourceLocks } from '../safety/lock.js';
import { RecentRemediations } from '../safety/remediations.js';
import { RedisRunStore } from '../workflow/redis-store.js';
import { RunSupervisor } from '../workflow/supervisor.js';
import { WorkflowDispatch } from './dispatch.js';
import { clusterVoters } from './voters.js';
import { stepExecutor } from './step-executor.js';

export type NodeState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface NodeOptions {
  readonly configDir: string;
  readonly nodeId: string;
  readonly log?: Logger;
}

export class ControllerNode {
  #state: NodeState = 'starting';
  private stopping: Promise<void> | undefined;

  get state(): NodeState {
    return this.#state;
  }

  /** The peer port's gRPC health follows it: `SERVING` only while `running`. */
  set state(state: NodeState) {
    this.#state = state;
    this.server.setServing(state === 'running');
  }

  private constructor(
    readonly config: CompiledConfig,
    readonly self: ClusterNode,
    readonly log: Logger,
    private readonly redis: RedisClient,
    private readonly server: PeerServer,
    private readonly peers: PeerClient[],
    private readonly consumer: Consumer,
    private readonly pipeline: Pipeline,
    private readonly runs: RunSupervisor,
    private readonly api: ApiServer,
    private readonly responder: Responder,
    private readonly notifier: Notifier,
    private readonly pager: PagerDutyPager | undefined,
    private readonly trimTimer: NodeJS.Timeout,
    private readonly stopTls: () => void,
  ) {}

  /** The REST API's address (`http://host:port`). */
  get apiUrl(): string {
    return this.api.url;
  }

  /**
   * Starts a node: `running` once it resolves. When it cannot start, whatever it had opened (the
   * Redis connection, the peer and API listeners, the timers) is closed again and it rejects with
   * `LZ_ERR_NODE_START` whose `state` is `failed` and whose `cause` is what went wrong.
   */
  static async start(options: NodeOptions): Promise<ControllerNode> {
    const opened: (() => unknown)[] = [];
    try {
      return await ControllerNode.boot(options, (close) => opened.push(close));
    } catch (error) {
      for (const close of opened.reverse())
        await Promise.resolve()
          .then(close)
          .catch(() => undefined);
      throw new NodeStartError(options.nodeId, error);
    }
  }

  private static async boot(
    options: NodeOptions,
    opened: (close: () => unknown) => void,
  ): Promise<ControllerNode> {
    const config = await loadConfigOrThrow(options.configDir, defaultCatalog());
    const self = config.region.nodes.find((n) => n.id === options.nodeId);
    if (self === undefined) {
      throw new Error(
        `it is not in ${options.configDir}; nodes: ${config.region.nodes.map((n) => n.id).join(', ')}`,
      );
    }
    const log = (options.log ?? pino({ base: { node: self.id } })).child({ zone: self.zone });
    log.info(
      { region: config.region.region, grpc: self.grpc, quorum: config.region.quorum },
      'node starting',
    );

    const redis = await connectRegionRedis(config.region.redis, { connectionName: `lazarus-${self.id}` });
    opened(() => redis.disconnect());
    for (const warning of literalSecrets(config.region)) log.warn(warning);
    const { mode, replicaAck } = config.region.redis;
    log.info({ redis: mode, replica_ack: replicaAck.replicas }, `redis ${mode} connected`);
    if (mode !== 'standalone' && replicaAck.replicas === 0)
      log.warn(
        { redis: mode },
        'redis.replica_ack.replicas is 0: a failover can forget a lock (locks are not waited for on a replica)',
      );
    const keys = new RedisKeys(config.region.redis.keyPrefix);
    const inventory = inventoryOf(config, options.configDir);
    const evaluator = new Evaluator({
      node: self,
      inventory,
      checks: CHECKS,
      probeCacheMs: config.region.thresholds.probeCacheMs,
      maxEventBytes: config.region.events.maxBytes,
    });
    const audit = config.region.audit;
    const store = new DecisionStore(redis, keys, audit.retentionMs);
    const metrics = new Metrics();
    const auditLog = new AuditLog(redis, keys, audit.retentionMs, log);
    const pager = pagerOf(config, redis, keys, metrics, log);
    const directory = directoryOf(config);
    // Each delivery's outcome goes to the event's trail, through the responder made below.
    let onDelivery: (record: DeliveryRecord, message: NotifyMessage) => void = () => undefined;
    const notifier = notifierOf(config, directory, pager, log, (record, message) =>
      onDelivery(record, message),
    );
    const late = new LateVotes(store);
    const responder = new Responder({
      config,
      pager,
      notifier,
      directory,
      audit: auditLog,
      metrics,
      node: self.id,
      log,
      updateDecision: (record, entries) => store.update(record, entries),
      held: late,
      ...breakerNotes(config, redis, keys, self.id),
    });
    onDelivery = (record, message) => responder.delivered(record, message);
    const tls = await peerIdentityOf(config, self.id, log);
    opened(tls.stop);
    const peers = config.region.nodes
      .filter((n) => n.id !== self.id)
      .map((n) => new PeerClient(n.id, n.grpc, tls.identity));

    let state: () => NodeState = () => 'starting';
    opened(() => peers.forEach((peer) => peer.close()));
    const { server } = await PeerServer.start(
      self.listen?.grpc ?? self.grpc,
      {
        evaluate: (request) => {
          log.debug({ event: request.rule_id, from: request.coordinator }, 'evaluating for a peer');
          return evaluator.answer(request);
        },
        ping: () => ({ node_id: self.id, zone: self.zone, state: state() }),
        received: (method, events) => metrics.peerRequest(method, events),
      },
      tls.identity === undefined
        ? { insecure: true }
        : { identity: tls.identity, nodes: config.region.nodes.map((n) => n.id) },
    );

    opened(() => server.stop(0));
    opened(() => notifier.close());
    opened(() => pager?.close());
    const locks = new ResourceLocks(redis, keys, config.region.redis.replicaAck);
    const recent = new RecentRemediations(redis, keys, config.region.redis.replicaAck);
    const runStore = new RedisRunStore(redis, keys);
    const dispatch: WorkflowDispatch = new WorkflowDispatch({
      config,
      locks,
      recent,
      runStore,
      runs: () => runs,
      responder,
      metrics,
      log,
    });
    const runs = new RunSupervisor({
      redis,
      keys,
      store: runStore,
      nodeId: self.id,
      leaseTtlMs: config.region.workflows.leaseTtlMs,
      workflows: config.workflows,
      log,
      execute: stepExecutor(ACTIONS, {
        pager: pager ?? UNCONFIGURED_PAGER,
        notifier,
        notifierFor: (run) =>
          notifier.forEvent(
            typeof run.event['incident_key'] === 'string' ? { incidentKey: run.event['incident_key'] } : {},
          ),
        execDir: config.region.workflows.execDir,
        ...(self.sourceAddress === undefined ? {} : { sourceAddress: self.sourceAddress }),
      }),
      engine: {
        concurrency: config.region.workflows.stepConcurrency,
        onStep: (run, step) => {
          const action = config.workflows.get(run.workflow);
          const def = [...(action?.steps ?? []), ...(action?.onFailure ?? [])].find((s) => s.id === step.id);
          metrics.stepFinished(def?.action ?? 'unknown', step.status, step.duration_ms ?? 0);
        },
      },
      renewLock: (run) => dispatch.renewLock(run),
      onEnd: (run) => dispatch.runEnded(run),
    });

    const pipeline = new Pipeline({
      config,
      matcher: new Matcher(config.services),
      store,
      gates: {
        windows: new GateWindows(redis, keys),
        locks,
        recent,
      },
      node: self,
      log,
      instances: (instanceId) => inventory.findInstance(instanceId),
      responder,
      late,
      metrics,
      workflows: dispatch,
      voters: clusterVoters(self, evaluator, peers, config.region.thresholds.voteTimeoutMs, metrics),
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
      onLag: (shard, ms) => metrics.shardLag(shard, ms),
      onRelease: (shard) => metrics.shardReleased(shard),
    });

    const apiToken = process.env[config.region.api.tokenEnv];
    const apiCertificate = await apiCertificateOf(config, self.id, log);
    const api = await ApiServer.start({
      listen: self.listen?.api ?? self.api,
      ...(apiCertificate === undefined ? {} : { tls: apiCertificate.pem }),
      redis,
      keys,
      config,
      metrics,
      log,
      nodeId: self.id,
      state: () => state(),
      // A ListShards of one shard: cheap (1000 calls/s per stream), and what the consumer needs.
      streamCheck: singleFlight(() =>
        kinesis.send(new ListShardsCommand({ StreamName: config.region.kinesis.stream, MaxResults: 1 })),
      ),
      peerCheck: () =>
        Promise.all(
          peers.map((peer) =>
            peer.ping(self.id, 1000).then(
              (reply) => ({ node: peer.nodeId, state: reply.state }),
              (error: unknown) => ({
                node: peer.nodeId,
                error: error instanceof Error ? error.message : String(error),
              }),
            ),
          ),
        ),
      protectReads: config.region.api.protectReads,
      ...(apiToken === undefined || apiToken === '' ? {} : { token: apiToken }),
      tokens: config.region.api.tokens.map((t) => ({
        name: t.name,
        token: process.env[t.env] ?? '',
        roles: t.roles,
      })),
      put: (data, partitionKey) =>
        kinesis.send(
          new PutRecordCommand({
            StreamName: config.region.kinesis.stream,
            Data: data,
            PartitionKey: partitionKey,
          }),
        ),
    });
    opened(() => api.stop());
    const stopApiTls =
      apiCertificate === undefined
        ? () => undefined
        : reloadApiCertificate(apiCertificate, log, (pem) => api.useCertificate(pem));
    opened(stopApiTls);
    if (apiToken === undefined || apiToken === '')
      log.warn(`$${config.region.api.tokenEnv} is not set: the REST API refuses every write`);

    const trimTimer = retentionTimer(store, config, log);
    opened(() => clearInterval(trimTimer));

    const node = new ControllerNode(
      config,
      self,
      log,
      redis,
      server,
      peers,
      consumer,
      pipeline,
      runs,
      api,
      responder,
      notifier,
      pager,
      trimTimer,
      () => {
        tls.stop();
        stopApiTls();
      },
    );
    state = () => node.state;
    consumer.start();
    runs.start();
    node.state = 'running';
    log.info({ grpc: self.grpc, api: api.url }, 'node running');
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
    try {
      await this.close();
      this.state = 'stopped';
      this.log.info('node stopped');
    } catch (error) {
      // Not a clean stop: whatever was left is left to its TTLs (leases, locks, claims).
      this.state = 'failed';
      this.log.error({ err: error, state: 'failed' }, 'the node could not stop cleanly');
      throw error;
    }
  }

  private async close(): Promise<void> {
    this.log.info('draining: finishing the batches in hand, then releasing the shard leases');
    await this.consumer.stop();
    await this.pipeline.flush();
    // Runs in hand get a moment to finish; the rest are continued by a peer once their leases lapse.
    await this.runs.stop(5000);
    clearInterval(this.trimTimer);
    this.stopTls();
    // Page calls and notifications in hand get a moment; the notifier then gives up its retries.
    const settle = (ms: number): Promise<unknown> =>
      Promise.race([this.responder.flush(), new Promise((r) => setTimeout(r, ms).unref())]);
    await settle(3000);
    await this.notifier.close();
    // The deliveries' outcomes, reported as the notifier gave up, go to the audit trail too.
    await settle(1000);
    this.pager?.close();
    // Peers may still be asking for votes on events they coordinate; answer for a moment more.
    await this.server.stop(1000);
    for (const peer of this.peers) peer.close();
    await this.api.stop();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** A node that could not start: its state is `failed`; `cause` says why. */
export class NodeStartError extends LzError {
  readonly state = 'failed' as const;

  constructor(nodeId: string, cause: unknown) {
    super(
      ControllerErrorCodes.NODE_START,
      `node ${nodeId} could not start: ${cause instanceof Error ? cause.message : String(cause)}`,
      // Starting again can help when what failed can (Redis not up yet).
      { cause, retryable: cause instanceof LzError && cause.retryable },
    );
  }
}

/** The pager of a region without PagerDuty: every call fails, so nothing with a page is acted on. */
const UNCONFIGURED_PAGER: PagerPort = {
  acknowledge: () => Promise.reject(unconfigured()),
  resolve: () => Promise.reject(unconfigured()),
  escalate: () => Promise.reject(unconfigured()),
  note: () => Promise.reject(unconfigured()),
};

function unconfigured(): PagerError {
  return new PagerError(
    PagerErrorCodes.UNAVAILABLE,
    'PagerDuty is not configured (region.yaml has no pagerduty section)',
  );
}

function inventoryOf(config: CompiledConfig, configDir: string): InventoryProvider {
  const inv = config.region.inventory;
  return inv.type === 'file'
    ? new FileInventory(resolve(configDir, inv.path), inv.refreshMs)
    : new HttpInventory(inv.url, inv.refreshMs);
}

/** Calls `fn` once for every caller that asks while a call is in flight (probes that overlap). */
function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= fn().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
