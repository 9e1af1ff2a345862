/**
 * Step 9, the workflow: an `act` decision, once durable, becomes a workflow run (or, in
 * `notify_only` mode, a message of what would have been done); the run's lock is renewed while it
 * runs and released when it ends, whatever the outcome; the host's remediation is on record from
 * before the run starts until its window after the end has passed.
 */
import type { Logger } from 'pino';
import { lockRef } from '../common/lock-ref.js';
import type { CompiledConfig, CompiledRule } from '../config/types.js';
import { parametersOf } from '../config/services.js';
import type { LzEvent } from '../events/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DecisionRecord } from '../records/decision.js';
import type { ResourceLocks } from '../safety/lock.js';
import type { RecentRemediations } from '../safety/remediations.js';
import { newRun } from '../workflow/engine.js';
import type { RedisRunStore } from '../workflow/redis-store.js';
import type { RunSupervisor } from '../workflow/supervisor.js';
import type { RunState } from '../workflow/types.js';
import type { Responder } from './responder.js';

/** A lock outlives the workflow's own timeout by this much, so that the run's timeout fires first. */
export const LOCK_MARGIN_MS = 5 * 60_000;

/** How long what an act takes (its lock, its attempt record, its decision) must last: its run, and a margin. */
export function holdMs(config: CompiledConfig, service: string): number {
  return parametersOf(config.services, service).workflowTimeoutMs + LOCK_MARGIN_MS;
}

export interface DispatchOptions {
  readonly config: CompiledConfig;
  readonly locks: ResourceLocks;
  readonly recent: RecentRemediations;
  readonly runStore: RedisRunStore;
  /** The node's runs (set once the supervisor exists: it calls back into this). */
  readonly runs: () => RunSupervisor;
  readonly responder: Responder;
  readonly metrics: Metrics;
  readonly log: Logger;
}

export class WorkflowDispatch {
  constructor(private readonly o: DispatchOptions) {}

  /** 9. Dispatches the rule's workflow for a durable `act` decision; rejects when it could not be. */
  async dispatch(decision: DecisionRecord, rule: CompiledRule, event: LzEvent): Promise<void> {
    const { config, locks, recent, log } = this.o;
    const service = config.services.get(event.service);
    const parameters = parametersOf(config.services, event.service);
    if (parameters.mode === 'notify_only') {
      // The responder tells the service's channels what would have been done.
      log.info(
        { event: event.id, workflow: rule.action.workflow },
        `notify_only: would have run ${rule.action.workflow}`,
      );
      if (decision.lock !== undefined) await locks.held(decision.lock).release();
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
        timeoutMs: parameters.workflowTimeoutMs,
        ...(decision.lock === undefined
          ? {}
          : {
              lock: lockRef(decision.lock),
            }),
      },
      workflow,
    );
    // On record before the run starts, while the lock is held (and again when it ends): a later
    // report about the host does not remediate it again. Failing here, nothing starts.
    const target = this.target(run);
    if (target !== undefined)
      await recent.record(
        target.service,
        target.resource,
        { event_id: event.id, run_id: run.id, workflow: run.workflow, started_at: run.started_at },
        Date.parse(run.deadline_at) - Date.now() + LOCK_MARGIN_MS + target.windowMs,
      );
    if (await this.o.runs().begin(run)) {
      this.o.metrics.runStarted(workflow.name);
      this.o.responder.runStarted(run, workflow);
    }
  }

  /**
   * The workflow of an `act` decision may not have started (dispatch failed): did the run get
   * created before the failure? Then a node continues it (with its lock). Not created, or unknown
   * (Redis away): nothing runs now, so the humans get the page back. The lock is released, and the
   * host's record of a remediation forgotten, only when the run is known not to exist; otherwise
   * they lapse by their TTL.
   */
  async notStarted(decision: DecisionRecord, error: string): Promise<void> {
    const exists = await this.o.runStore.load(`run-${decision.event_id}`).then(
      (run) => run !== undefined,
      () => undefined,
    );
    if (exists === true) return;
    const resource = decision.event.host ?? decision.event.resource;
    if (exists === false && resource !== undefined)
      await this.o.recent.forget(decision.service, resource, decision.event_id).catch(() => undefined);
    if (exists === false && decision.lock !== undefined)
      await this.o.locks
        .held(decision.lock)
        .release()
        .catch(() => undefined);
    this.o.responder.notStarted(decision, error);
  }

  /** Renews a running run's lock to its deadline and a margin; `false`: the lock is lost, the run stops. */
  async renewLock(run: RunState): Promise<boolean> {
    if (run.lock === undefined) return true;
    const left = Date.parse(run.deadline_at) - Date.now();
    const held = await this.o.locks.held(run.lock).renew(Math.max(left, 0) + LOCK_MARGIN_MS);
    if (!held)
      this.o.log.error(
        { run: run.id, lock: run.lock },
        'the run lost its resource lock (expired or taken): another remediation may start on this resource; stopping the run',
      );
    return held;
  }

  /** A run ended: the page, the host's record of its remediation, then its lock (in that order). */
  async runEnded(run: RunState): Promise<void> {
    const { config, metrics, recent, log } = this.o;
    if (run.status === 'succeeded' || run.status === 'failed') metrics.runFinished(run.workflow, run.status);
    this.o.responder.runEnded(run, config.workflows.get(run.workflow));
    // On record before the lock goes: whoever takes the lock next sees that the host was just
    // remediated, and does not remediate it again within the window.
    const target = this.target(run);
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
    if (run.lock !== undefined) await this.o.locks.held(run.lock).release();
  }

  /** The host (or resource) a run remediates, and how long after its end it is not remediated again. */
  private target(run: RunState): { service: string; resource: string; windowMs: number } | undefined {
    const resource = run.event['host'] ?? run.event['resource'];
    if (typeof resource !== 'string' || resource === '') return undefined;
    const service = run.event.service;
    return { service, resource, windowMs: parametersOf(this.o.config.services, service).reremediateAfterMs };
  }
}
