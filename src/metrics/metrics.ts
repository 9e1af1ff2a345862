/**
 * The node's Prometheus metrics, in a registry of its own (never prom-client's global default, so
 * that several nodes in one process, as in the tests, do not mix their counts). The pipeline and the
 * other modules call the small methods below; `GET /metrics` serves {@link Metrics.text}.
 *
 * | metric                              | type      | labels                          | what it counts                                                        |
 * | ----------------------------------- | --------- | ------------------------------- | --------------------------------------------------------------------- |
 * | `lazarus_events_received_total`     | counter   |                                 | records read from the stream (events or not)                          |
 * | `lazarus_events_rejected_total`     | counter   | `code`                          | records that were not events (`LZ_ERR_EVENT_*`)                       |
 * | `lazarus_decisions_total`           | counter   | `outcome`, `reason`             | decisions recorded; `reason` is `none` for `act` and `duplicate`      |
 * | `lazarus_decision_latency_ms`       | histogram | `outcome`                       | arrival in the stream → durable decision, ms (10 ms .. 60 s)          |
 * | `lazarus_votes_total`               | counter   | `node`, `result`                | votes this node collected as coordinator: `pass`, `fail`, `error`     |
 * | `lazarus_breaker_open`              | gauge     |                                 | 1 while the regional circuit breaker is open (as this node last saw)  |
 * | `lazarus_rate_limited_total`        | counter   | `service`                       | events escalated because their service was over its rate limit       |
 * | `lazarus_lock_contention_total`     | counter   | `kind`                          | acts refused because another remediation held the lock (`host`, `service`) |
 * | `lazarus_workflow_runs_total`       | counter   | `workflow`, `status`            | runs `started`, `succeeded`, `failed` on this node                    |
 * | `lazarus_workflow_step_duration_ms` | histogram | `action`, `status`              | one step's duration, ms (10 ms .. 30 min)                             |
 * | `lazarus_page_ack_latency_ms`       | histogram |                                 | the event's `time` → PagerDuty acknowledgement, ms (50 ms .. 60 s)     |
 * | `lazarus_page_left_to_timer_total` | counter   | `action`                        | page calls not sent: the region's PagerDuty request budget had no room in time; PagerDuty's timer escalates |
 * | `lazarus_shard_lag_ms`              | gauge     | `shard`                         | how far this node's reader is behind the shard's tip (MillisBehindLatest) |
 * | `lazarus_redis_errors_total`        | counter   | `op`                            | Redis calls that failed or timed out                                  |
 * | `lazarus_peer_errors_total`         | counter   | `peer`                          | gRPC calls to a peer that failed or timed out                         |
 * | `lazarus_peer_requests_total`       | counter   | `method`                        | peer calls this node answered (`Evaluate`, `EvaluateBatch`, `Ping`)   |
 * | `lazarus_peer_batch_events_total`   | counter   |                                 | events asked in `EvaluateBatch` calls this node answered              |
 * | `lazarus_api_requests_total`        | counter   | `method`, `route`, `status`     | REST API requests answered                                            |
 *
 * Plus prom-client's default process metrics (`process_*`, `nodejs_*`) unless turned off. Labels are
 * bounded: services, workflows and actions come from the configuration, nodes and shards from the
 * region; hosts and event ids are never labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionRecord, EscalationReason, Outcome } from '../records/decision.js';

/** Decision latency: a fast local decision takes ~10 ms, a vote that runs to its deadline seconds. */
export const DECISION_LATENCY_BUCKETS_MS = [
  10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000,
];
/** Steps range from an HTTP call to a host boot that waits for health for many minutes. */
export const STEP_DURATION_BUCKETS_MS = [
  10, 50, 100, 500, 1000, 5000, 15_000, 60_000, 300_000, 900_000, 1_800_000,
];
/** The controller has 60 s to acknowledge a page before PagerDuty escalates by itself. */
export const PAGE_ACK_BUCKETS_MS = [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 20_000, 30_000, 60_000];

export interface MetricsOptions {
  /** Collect prom-client's process and Node.js metrics too. @defaultValue true */
  readonly defaultMetrics?: boolean;
}

export type VoteResult = 'pass' | 'fail' | 'error';
export type RunCount = 'started' | 'succeeded' | 'failed';

export class Metrics {
  readonly registry = new Registry();

  private readonly eventsReceived = new Counter({
    name: 'lazarus_events_received_total',
    help: 'Records read from the stream (events or not).',
    registers: [this.registry],
  });
  private readonly eventsRejected = new Counter({
    name: 'lazarus_events_rejected_total',
    help: 'Records that were not events, by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  private readonly sensorItems = new Counter({
    name: 'lazarus_sensor_items_total',
    help: "Items of sensors' payloads (alerts, AWS events per instance), by sensor and outcome (event, ignored, rejected).",
    labelNames: ['sensor', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly decisions = new Counter({
    name: 'lazarus_decisions_total',
    help: 'Decisions recorded, by outcome and escalation reason (none for act and duplicate).',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly decisionLatency = new Histogram({
    name: 'lazarus_decision_latency_ms',
    help: 'From arrival in the stream to the durable decision, in milliseconds.',
    labelNames: ['outcome'] as const,
    buckets: DECISION_LATENCY_BUCKETS_MS,
    registers: [this.registry],
  });
  private readonly votes = new Counter({
    name: 'lazarus_votes_total',
    help: 'Votes collected by this node as coordinator, by voting node and result (pass, fail, error).',
    labelNames: ['node', 'result'] as const,
    registers: [this.registry],
  });
  private readonly breaker = new Gauge({
    name: 'lazarus_breaker_open',
    help: '1 while the regional circuit breaker is open, as this node last saw it.',
    registers: [this.registry],
  });
  private readonly rateLimitedEvents = new Counter({
    name: 'lazarus_rate_limited_total',
    help: 'Events escalated because their service was over its rate limit.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  private readonly lockContention = new Counter({
    name: 'lazarus_lock_contention_total',
    help: 'Remediations refused because another one held the lock, by lock kind (host, service).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly runs = new Counter({
    name: 'lazarus_workflow_runs_total',
    help: 'Workflow runs started, succeeded and failed on this node.',
    labelNames: ['workflow', 'status'] as const,
    registers: [this.registry],
  });
  private readonly stepDuration = new Histogram({
    name: 'lazarus_workflow_step_duration_ms',
    help: 'Duration of one workflow step, in milliseconds, by action and final status.',
    labelNames: ['action', 'status'] as const,
    buckets: STEP_DURATION_BUCKETS_MS,
    registers: [this.registry],
  });
  private readonly pageAck = new Histogram({
    name: 'lazarus_page_ack_latency_ms',
    help: "From the event's time (when its sensor paged) to the PagerDuty acknowledgement, in milliseconds.",
    buckets: PAGE_ACK_BUCKETS_MS,
    registers: [this.registry],
  });
  private readonly leftToTimer = new Counter({
    name: 'lazarus_page_left_to_timer_total',
    help: "Page calls not sent because the region's PagerDuty request budget had no room before the page's race ended (PagerDuty's own timer escalates those pages), by call.",
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  private readonly shardLagMs = new Gauge({
    name: 'lazarus_shard_lag_ms',
    help: "How far this node's reader is behind the shard's tip, in milliseconds.",
    labelNames: ['shard'] as const,
    registers: [this.registry],
  });
  private readonly redisErrors = new Counter({
    name: 'lazarus_redis_errors_total',
    help: 'Redis calls that failed or timed out, by operation.',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  private readonly peerErrors = new Counter({
    name: 'lazarus_peer_errors_total',
    help: 'gRPC calls to a peer that failed or timed out, by peer node.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  private readonly peerRequests = new Counter({
    name: 'lazarus_peer_requests_total',
    help: 'Peer calls this node answered, by method (Evaluate, EvaluateBatch, Ping).',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  private readonly peerBatchEvents = new Counter({
    name: 'lazarus_peer_batch_events_total',
    help: 'Events asked in the EvaluateBatch calls this node answered.',
    registers: [this.registry],
  });
  private readonly apiRequests = new Counter({
    name: 'lazarus_api_requests_total',
    help: 'REST API requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** A record was read from the stream. */
  eventReceived(): void {
    this.eventsReceived.inc();
  }

  /** A record was not an event (`code`: its `LZ_ERR_EVENT_*`). */
  eventRejected(code: string): void {
    this.eventsRejected.inc({ code });
  }

  /** An item of a sensor's payload: an `event` to decide, `ignored` (a resolved alert), or `rejected` (unmappable). */
  sensorItem(sensor: string, outcome: 'event' | 'ignored' | 'rejected'): void {
    this.sensorItems.inc({ sensor, outcome });
  }

  /** A decision was recorded. */
  decided(outcome: Outcome, reason: EscalationReason | undefined, latencyMs: number): void {
    this.decisions.inc({ outcome, reason: reason ?? 'none' });
    this.decisionLatency.observe({ outcome }, Math.max(0, latencyMs));
  }

  /** A node's vote on an event this node coordinated. */
  vote(node: string, pass: boolean): void {
    this.votes.inc({ node, result: pass ? 'pass' : 'fail' });
  }

  /** A node could not vote (unreachable, error, deadline). */
  voteError(node: string): void {
    this.votes.inc({ node, result: 'error' });
  }

  /** The breaker's state as this node saw it at its latest gate. */
  breakerOpen(open: boolean): void {
    this.breaker.set(open ? 1 : 0);
  }

  rateLimited(service: string): void {
    this.rateLimitedEvents.inc({ service });
  }

  /** A lock was held by another remediation (`kind`: the rule's lock, `host` or `service`). */
  lockContended(kind: string): void {
    this.lockContention.inc({ kind });
  }

  runStarted(workflow: string): void {
    this.runs.inc({ workflow, status: 'started' });
  }

  runFinished(workflow: string, status: 'succeeded' | 'failed'): void {
    this.runs.inc({ workflow, status });
  }

  stepFinished(action: string, status: string, durationMs: number): void {
    this.stepDuration.observe({ action, status }, Math.max(0, durationMs));
  }

  pageAcked(latencyMs: number): void {
    this.pageAck.observe(Math.max(0, latencyMs));
  }

  /** A page call (`acknowledge`, `escalate`, `resolve`, `note`) was left to PagerDuty's timer. */
  pageLeftToTimer(action: string): void {
    this.leftToTimer.inc({ action });
  }

  /** The reader of `shard` is `ms` behind its tip (GetRecords' MillisBehindLatest). */
  shardLag(shard: string, ms: number): void {
    this.shardLagMs.set({ shard }, Math.max(0, ms));
  }

  /** This node no longer reads `shard`: its lag is another node's to report. */
  shardReleased(shard: string): void {
    this.shardLagMs.remove({ shard });
  }

  redisError(op: string): void {
    this.redisErrors.inc({ op });
  }

  peerError(peer: string): void {
    this.peerErrors.inc({ peer });
  }

  /** A peer call this node answered; `events`: how many events an EvaluateBatch asked. */
  peerRequest(method: string, events = 0): void {
    this.peerRequests.inc({ method });
    if (events > 0) this.peerBatchEvents.inc(events);
  }

  apiRequest(method: string, route: string, status: number): void {
    this.apiRequests.inc({ method, route, status: String(status) });
  }

  /**
   * Everything one decision record says, in one call after it is written: the decision and its
   * latency, each vote and each voter that could not vote, the breaker as the event's gate saw it,
   * and a rate-limit or lock refusal.
   */
  recordDecision(record: DecisionRecord): void {
    this.decided(record.decision, record.reason, record.latency_ms);
    for (const vote of record.votes) this.vote(vote.node, vote.pass);
    for (const failure of record.failures) this.voteError(failure.node);
    if (record.gates?.breaker !== undefined) this.breakerOpen(record.gates.breaker.open);
    if (record.reason === 'rate_limited') this.rateLimited(record.service);
    if (record.reason === 'lock_held') this.lockContended(record.rule?.lock ?? 'unknown');
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    // prom-client 15 writes NaN as `Nan` (the event-loop gauges before their first sample); the
    // format spells it `NaN`. Prometheus reads either, stricter parsers only the latter.
    return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
