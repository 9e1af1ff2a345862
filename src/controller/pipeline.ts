/**
 * One event's way through the cluster, in the order of DESIGN.md. Each step is a call into its own
 * module; this file only walks the event through them and records what happened.
 *
 *   1 parse + validate     bad input: recorded and set aside; the checkpoint moves on
 *   3 dedup (event id)     an event already decided is not decided again
 *   4 rule match           no rule: escalate (no_rule)
 *   6 quorum checks        every node runs the rule's checks; `quorum` passing votes, or escalate
 *  10 record              the decision, with every vote and check, is written once per event id
 *  11 checkpoint          (the shard reader) only after every decision of the batch is durable
 *
 * Steps 2 (stale), 5 (safety gates), 7 (lock), 8 (page) and 9 (workflow) come with later work.
 */
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { CheckToRun } from '../checks/evaluate.js';
import { collectVotes } from '../cluster/quorum.js';
import type { Voter } from '../cluster/quorum.js';
import type { CompiledConfig, CompiledRule } from '../config/types.js';
import { parseEvent } from '../events/parse.js';
import type { LzEvent } from '../events/schema.js';
import type { StreamRecord } from '../ingest/stream-record.js';
import type { Matcher } from '../matching/matcher.js';
import { REASON_TEXT } from './decision.js';
import type { DecisionRecord, EscalationReason } from './decision.js';
import { REJECTED_RAW_CAP } from './decision-store.js';
import type { DecisionStore } from './decision-store.js';

export interface PipelineOptions {
  readonly config: CompiledConfig;
  readonly matcher: Matcher;
  readonly store: DecisionStore;
  readonly node: { readonly id: string; readonly zone: string };
  /** This node's vote and each peer's, for an event and the rule's checks. */
  readonly voters: (event: LzEvent, rule: CompiledRule, checks: readonly CheckToRun[]) => Voter[];
  readonly log: Logger;
  /** Events of one batch handled at once (events of one host stay in order). @defaultValue 32 */
  readonly concurrency?: number;
}

export type Handled = 'rejected' | 'already_decided' | 'decided';

export class Pipeline {
  private readonly limit;
  /** Late votes still being added to records; awaited on shutdown. */
  private readonly lateWrites = new Set<Promise<void>>();

  constructor(private readonly o: PipelineOptions) {
    this.limit = pLimit(o.concurrency ?? 32);
  }

  /** Every record of a batch gets a durable outcome; rejects if any cannot (the batch is retried). */
  async handleBatch(records: readonly StreamRecord[]): Promise<Handled[]> {
    // Events about the same host are handled in stream order; different hosts in parallel.
    const lanes = new Map<string, StreamRecord[]>();
    for (const record of records) {
      const key = laneOf(record);
      const lane = lanes.get(key);
      if (lane === undefined) lanes.set(key, [record]);
      else lane.push(record);
    }
    const results = new Map<StreamRecord, Handled>();
    await Promise.all(
      [...lanes.values()].map((lane) =>
        this.limit(async () => {
          for (const record of lane) results.set(record, await this.handle(record));
        }),
      ),
    );
    return records.map((r) => results.get(r) ?? 'rejected');
  }

  async handle(record: StreamRecord): Promise<Handled> {
    const { store, config, log } = this.o;

    // 1. parse + validate
    const parsed = parseEvent(record.data, { maxBytes: config.region.events.maxBytes });
    if (!parsed.ok) {
      const { rejection } = parsed;
      await store.reject({
        shard: record.shardId,
        sequence: record.sequenceNumber,
        code: rejection.code,
        message: rejection.message,
        errors: rejection.errors,
        size: record.data.byteLength,
        raw: Buffer.from(record.data.subarray(0, REJECTED_RAW_CAP)).toString('base64'),
        node: this.o.node.id,
        at: new Date().toISOString(),
      });
      log.warn(
        { shard: record.shardId, sequence: record.sequenceNumber, code: rejection.code },
        `record rejected: ${rejection.message}`,
      );
      return 'rejected';
    }
    const event = parsed.event;
    const elog = log.child({ event: event.id });

    // 3. dedup by event id: decided once, whichever node reads it and however often it is delivered.
    if (!(await this.claim(event.id))) {
      elog.info(
        { shard: record.shardId, sequence: record.sequenceNumber },
        'already decided; delivered again',
      );
      return 'already_decided';
    }

    // 4. rule match
    const rule = this.o.matcher.match(event);
    if (rule === undefined) {
      await this.decide(record, event, elog, {
        decision: 'escalate',
        reason: 'no_rule',
        votes: [],
        failures: [],
      });
      return 'decided';
    }

    // 6. quorum checks
    const checks: CheckToRun[] = rule.checks.map((c) => ({
      name: c.name,
      threshold: c.threshold?.value,
      options: c.options,
    }));
    const outcome = await collectVotes(
      this.o.voters(event, rule, checks),
      config.region.quorum,
      config.region.thresholds.voteTimeoutMs,
    );
    const record_ = await this.decide(record, event, elog, {
      decision: outcome.decision,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      rule,
      votes: outcome.votes,
      failures: outcome.failures,
      voteMs: outcome.elapsedMs,
    });
    if (record_ !== undefined && outcome.pending.length > 0) this.recordLate(record_, outcome.late, elog);
    return 'decided';
  }

  /** Waits for the late votes still being recorded (clean shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.lateWrites]);
  }

  /**
   * Takes the right to decide the event. `false` when it is already decided. When another node holds
   * the claim (it reads the same record, e.g. during a takeover), wait for its decision; if its claim
   * expires without one (it died), take over.
   */
  private async claim(eventId: string): Promise<boolean> {
    const { store, node, config } = this.o;
    // Outlives the vote (its deadline) and the write of the decision, with room to spare.
    const ttl = 2 * config.region.thresholds.voteTimeoutMs + 1000;
    const deadline = Date.now() + ttl * 3;
    for (;;) {
      if ((await store.get(eventId)) !== undefined) return false;
      if (await store.claim(eventId, node.id, ttl)) return true;
      if (Date.now() > deadline)
        throw new Error(
          `event ${eventId}: claimed by ${(await store.claimHolder(eventId)) ?? '?'} and still undecided`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async decide(
    record: StreamRecord,
    event: LzEvent,
    elog: Logger,
    d: {
      decision: 'act' | 'escalate';
      reason?: EscalationReason;
      rule?: CompiledRule;
      votes: DecisionRecord['votes'];
      failures: DecisionRecord['failures'];
      voteMs?: number;
    },
  ): Promise<DecisionRecord | undefined> {
    const now = Date.now();
    const decision: DecisionRecord = {
      version: 1,
      event_id: event.id,
      decision: d.decision,
      ...(d.reason === undefined ? {} : { reason: d.reason, reason_text: REASON_TEXT[d.reason] }),
      service: event.service,
      ...(event.host === undefined ? {} : { host: event.host }),
      event_type: event.type,
      ...(d.rule === undefined
        ? {}
        : {
            rule: {
              id: d.rule.id,
              name: d.rule.name,
              workflow: d.rule.action.workflow,
              lock: d.rule.lock,
              checks: d.rule.checks.map((c) => ({
                name: c.name,
                ...(c.threshold === undefined
                  ? {}
                  : { threshold: c.threshold.value, source: c.threshold.source }),
              })),
            },
          }),
      quorum: this.o.config.region.quorum,
      coordinator: { node: this.o.node.id, zone: this.o.node.zone },
      votes: d.votes,
      failures: d.failures,
      source: { shard: record.shardId, sequence: record.sequenceNumber },
      event_time: event.time,
      arrived_at: new Date(record.arrivalMs).toISOString(),
      decided_at: new Date(now).toISOString(),
      latency_ms: Math.max(0, now - record.arrivalMs),
      ...(d.voteMs === undefined ? {} : { vote_ms: d.voteMs }),
      event,
    };
    // 10. record: durable before the checkpoint moves (the reader checkpoints after the batch).
    if (!(await this.o.store.write(decision))) {
      elog.info('already decided by another node');
      return undefined;
    }
    const passes = d.votes.filter((v) => v.pass).map((v) => `${v.node}/${v.zone}`);
    elog.info(
      {
        decision: d.decision,
        reason: d.reason,
        rule: d.rule?.id,
        passes,
        fails: d.votes.filter((v) => !v.pass).map((v) => v.node),
        failures: d.failures,
        latencyMs: decision.latency_ms,
      },
      d.decision === 'act'
        ? `act: ${d.rule?.id ?? ''} passed ${passes.length}/${this.o.config.region.quorum}`
        : `escalate: ${d.reason ?? ''}`,
    );
    return decision;
  }

  private recordLate(
    decision: DecisionRecord,
    late: Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>,
    elog: Logger,
  ): void {
    const write = late
      .then(async ({ votes, failures }) => {
        decision.late_votes = votes;
        decision.late_failures = failures;
        await this.o.store.appendLate(decision);
      })
      .catch((error: unknown) => elog.warn({ err: error }, 'late votes could not be added to the record'))
      .finally(() => this.lateWrites.delete(write));
    this.lateWrites.add(write);
  }
}

/** Records about the same host share a lane; unparseable ones get their own. */
function laneOf(record: StreamRecord): string {
  return record.partitionKey === '' ? `${record.shardId}/${record.sequenceNumber}` : record.partitionKey;
}
