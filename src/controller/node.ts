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
import { minimumRetentionMs } from '../config/region.js';
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
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { ApiServer } from '../api/server.js';
import { Metrics } from '../metrics/metrics.js';
import { AuditLog } from '../audit/log.js';
import { ChannelDirectory } from '../notify/channel-directory.js';
import { EmailChannel } from '../notify/email.js';
import { Notifier } from '../notify/notifier.js';
import type { DeliveryRecord, NotifyMessage } from '../notify/notifier.js';
import { PagerDutyNoteChannel } from '../notify/pagerduty-channel.js';
import { SlackChannel } from '../notify/slack.js';
import { PagerError, PagerErrorCodes } from '../pager/errors.js';
import { viaRedis } from '../common/dependency.js';
import { PagerDutyPager } from '../pager/pagerduty-pager.js';
import { SharedRequestBudget } from '../pager/request-budget.js';
import type { PagerPort } from '../actions/definition.js';
import { Responder } from './responder.js';
import { CircuitBreaker } from '../safety/circuit-breaker.js';
import { Deduplicator } from '../safety/dedup.js';
import { ResourceLocks } from '../safety/lock.js';
import { RateLimiter } from '../safety/rate-limiter.js';
import { RecentRemediations } from '../safety/remediations.js';
import type { RunState } from '../workflow/types.js';
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
    private readonly api: ApiServer,
    private readonly responder: Responder,
    private readonly notifier: Notifier,
    private readonly pager: PagerDutyPager | undefined,
    private readonly trimTimer: NodeJS.Timeout,
  ) {}

  /** The REST API's address (`http://host:port`). */
  get apiUrl(): string {
    return this.api.url;
  }

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
      maxEventBytes: config.region.events.maxBytes,
    });
    const audit = config.region.audit;
    const store = new DecisionStore(redis, keys, audit.retentionMs);
    const metrics = new Metrics();
    const auditLog = new AuditLog(redis, keys, audit.retentionMs, log);
    const pd = config.region.pagerduty;
    const pager =
      pd === undefined
        ? undefined
        : new PagerDutyPager({
            baseUrl: pd.url,
            token: process.env[pd.tokenEnv] ?? '',
            from: pd.from,
            budgetMs: pd.budgetMs,
            incidentGraceMs: pd.incidentGraceMs,
            ...(pd.userId === undefined ? {} : { userId: pd.userId }),
            requestBudget: new SharedRequestBudget({
              redis,
              key: keys.pagerBudget,
              perMinute: pd.requestsPerMinute,
              onError: (error) =>
                log.warn({ err: error }, 'the PagerDuty request budget could not be read: nothing is sent'),
            }),
            onCall: (call) => {
              if (call.code === PagerErrorCodes.OVER_BUDGET) metrics.pageLeftToTimer(call.verb);
            },
          });
    if (pd === undefined)
      log.warn('no pagerduty section in region.yaml: events with an incident key will not be acted on');
    else if ((process.env[pd.tokenEnv] ?? '') === '')
      log.warn(
        `$${pd.tokenEnv} is empty: PagerDuty will refuse every call, and nothing with a page is acted on`,
      );
    const notes = config.region.notifications;
    const directory = ChannelDirectory.fromServices(config.services.values(), {
      slackWebhooks: notes.slackWebhooks,
      groups: notes.teams,
      fallback: notes.fallback,
    });
    const smtp = notes.smtp;
    // Each delivery's outcome goes to the event's trail, through the responder made below.
    let onDelivery: (record: DeliveryRecord, message: NotifyMessage) => void = () => undefined;
    const notifier = new Notifier({
      directory,
      log,
      onSettled: (record, message) => onDelivery(record, message),
      channels: {
        slack: new SlackChannel(),
        ...(smtp === undefined
          ? {}
          : {
              email: new EmailChannel({
                host: smtp.host,
                port: smtp.port,
                from: smtp.from,
                secure: smtp.secure,
                ...(smtp.userEnv === undefined
                  ? {}
                  : {
                      auth: {
                        user: process.env[smtp.userEnv] ?? '',
                        pass: smtp.passwordEnv === undefined ? '' : (process.env[smtp.passwordEnv] ?? ''),
                      },
                    }),
              }),
            }),
        ...(pager === undefined ? {} : { pagerduty: new PagerDutyNoteChannel(pager) }),
      },
    });
    const responder = new Responder({
      config,
      pager,
      notifier,
      directory,
      audit: auditLog,
      metrics,
      node: self.id,
      log,
      updateDecision: (record) => store.update(record),
      // Kept while the opening can still be the one events are escalated under, and some more.
      claimBreakerNote: async (openedAtMs, incidentKey) =>
        (await viaRedis('breaker note claim', () =>
          redis.set(
            keys.breakerNote(openedAtMs, incidentKey),
            self.id,
            'PX',
            Math.max(3_600_000, 2 * config.region.thresholds.breakerWindowMs),
            'NX',
          ),
        )) === 'OK',
      releaseBreakerNote: async (openedAtMs, incidentKey) => {
        await viaRedis('breaker note release', () => redis.del(keys.breakerNote(openedAtMs, incidentKey)));
      },
    });
    onDelivery = (record, message) => responder.delivered(record, message);
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
    const recent = new RecentRemediations(redis, keys);
    /** The host (or resource) a run remediates, and how long after its end it is not remediated again. */
    const remediated = (
      run: RunState,
    ): { service: string; resource: string; windowMs: number } | undefined => {
      const resource = run.event['host'] ?? run.event['resource'];
      if (typeof resource !== 'string' || resource === '') return undefined;
      const service = run.event.service;
      const windowMs = config.services.get(service)?.parameters.reremediateAfterMs ?? 3_600_000;
      return { service, resource, windowMs };
    };
    const runStore = new RedisRunStore(redis, keys);
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
      renewLock: async (run) => {
        if (run.lock === undefined) return true;
        const left = Date.parse(run.deadline_at) - Date.now();
        const held = await locks.renew(
          run.lock.resource,
          run.lock.owner,
          run.lock.token,
          Math.max(left, 0) + LOCK_MARGIN_MS,
        );
        if (!held)
          log.error(
            { run: run.id, lock: run.lock },
            'the run lost its resource lock (expired or taken): another remediation may start on this resource; stopping the run',
          );
        return held;
      },
      onEnd: async (run) => {
        if (run.status === 'succeeded' || run.status === 'failed')
          metrics.runFinished(run.workflow, run.status);
        responder.runEnded(run, config.workflows.get(run.workflow));
        // On record before the lock goes: whoever takes the lock next sees that the host was just
        // remediated, and does not remediate it again within the window.
        const target = remediated(run);
        if (target !== undefined)
          await recent
            .record(
              target.service,
              target.resource,
              {
                event_id: run.event.id,
                run_id: run.id,
                workflow: run.workflow,
                started_at: run.started_at,
                ended_at: run.finished_at ?? new Date().toISOString(),
                outcome: run.status,
              },
              Math.max(1, target.windowMs),
            )
            .catch((error: unknown) =>
              log.error(
                { err: error, run: run.id },
                'the end of the remediation could not be recorded; its start is on record for the run and the window',
              ),
            );
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
        recent,
      },
      node: self,
      log,
      responder,
      metrics,
      onActFailed: async (decision, error) => {
        // Did the run get created before the failure? Then a node continues it (with its lock).
        const exists = await runStore.load(`run-${decision.event_id}`).then(
          (run) => run !== undefined,
          () => undefined,
        );
        if (exists === true) return;
        // Not created, or unknown (Redis away): nothing runs now, so the humans get the page back.
        // The lock is released only when the run is known not to exist; otherwise it lapses by TTL.
        // Nothing ran: the host was not remediated, so its record of a remediation goes (lock still held).
        const resource = decision.event.host ?? decision.event.resource;
        if (exists === false && resource !== undefined)
          await recent.forget(decision.service, resource, decision.event_id).catch(() => undefined);
        if (exists === false && decision.lock !== undefined)
          await locks
            .release(decision.lock.resource, decision.lock.owner, decision.lock.token)
            .catch(() => undefined);
        responder.notStarted(decision, error);
      },
      onAct: async (decision, rule, event) => {
        const service = config.services.get(event.service);
        if (service?.parameters.mode === 'notify_only') {
          // The responder tells the service's channels what would have been done.
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
        const run = newRun(
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
        );
        // On record before the run starts, while the lock is held (and again when it ends): a later
        // report about the host does not remediate it again. Failing here, nothing starts.
        const target = remediated(run);
        if (target !== undefined)
          await recent.record(
            target.service,
            target.resource,
            { event_id: event.id, run_id: run.id, workflow: run.workflow, started_at: run.started_at },
            Date.parse(run.deadline_at) - Date.now() + LOCK_MARGIN_MS + target.windowMs,
          );
        if (await runs.begin(run)) {
          metrics.runStarted(workflow.name);
          responder.runStarted(run, workflow);
        }
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
            vote: async (signal) => {
              try {
                return fromVoteMessage(await peer.evaluate(request, timeoutMs, signal));
              } catch (error) {
                if (!signal.aborted) metrics.peerError(peer.nodeId);
                throw error;
              }
            },
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
      onLag: (shard, ms) => metrics.shardLag(shard, ms),
      onRelease: (shard) => metrics.shardReleased(shard),
    });

    const apiToken = process.env[config.region.api.tokenEnv];
    const api = await ApiServer.start({
      listen: self.api,
      redis,
      keys,
      config,
      metrics,
      log,
      nodeId: self.id,
      state: () => state(),
      protectReads: config.region.api.protectReads,
      ...(apiToken === undefined || apiToken === '' ? {} : { token: apiToken }),
      put: (data, partitionKey) =>
        kinesis.send(
          new PutRecordCommand({
            StreamName: config.region.kinesis.stream,
            Data: data,
            PartitionKey: partitionKey,
          }),
        ),
    });
    if (apiToken === undefined || apiToken === '')
      log.warn(`$${config.region.api.tokenEnv} is not set: the REST API refuses every write`);

    // Retention of the audit trail: any node may trim; it is idempotent.
    const trimTimer = setInterval(() => {
      store
        .trim(Date.now(), audit.retentionMs, audit.maxEvents, minimumRetentionMs(config.region.thresholds))
        .then(
          (removed) => {
            if (removed > 0) log.info({ removed }, 'audit trail trimmed to its retention');
          },
          (error: unknown) => log.warn({ err: error }, 'audit trail could not be trimmed'),
        );
    }, 60_000);
    trimTimer.unref();

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
    this.log.info('draining: finishing the batches in hand, then releasing the shard leases');
    await this.consumer.stop();
    await this.pipeline.flush();
    // Runs in hand get a moment to finish; the rest are continued by a peer once their leases lapse.
    await this.runs.stop(5000);
    clearInterval(this.trimTimer);
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
    this.state = 'stopped';
    this.log.info('node stopped');
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
