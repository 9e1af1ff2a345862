/**
 * Who runs which workflow run. A run belongs to a node by a lease in Redis, renewed while it runs
 * (with the run's resource lock). Every node looks for runs whose lease has lapsed (their node
 * died) and takes them over: the engine continues each from the first step that had not succeeded.
 * On a clean stop, runs still going after a grace period are handed over the same way (their
 * leases lapse once this process has exited).
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../common/redis.js';
import type { Logger } from 'pino';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, refusedAs, replies, runScript, script } from '../common/lua.js';
import type { CompiledWorkflow } from '../config/types.js';
import { runWorkflow } from './engine.js';
import type { EngineOptions } from './engine.js';
import type { RedisRunStore } from './redis-store.js';
import type { RunState, StepExecutor } from './types.js';

const RENEW = script('common', 'lease-renew', ['lease'], replies.yesNo);
const RELEASE = script('common', 'lease-release', ['lease'], replies.yesNo);

export interface SupervisorOptions {
  readonly redis: RedisClient;
  readonly keys: RedisKeys;
  readonly store: RedisRunStore;
  readonly nodeId: string;
  readonly leaseTtlMs: number;
  readonly workflows: ReadonlyMap<string, CompiledWorkflow>;
  readonly execute: StepExecutor;
  readonly log: Logger;
  /**
   * Keeps the run's resource lock alive while it runs; `false` when the lock is no longer the run's
   * (expired or taken): the run is then stopped where it is and fails (`lock_lost`).
   */
  readonly renewLock: (run: RunState) => Promise<boolean>;
  /** Called once a run has ended (succeeded or failed): release its lock, tell people. */
  readonly onEnd: (run: RunState) => Promise<void>;
  readonly engine?: Partial<Pick<EngineOptions, 'concurrency' | 'onStep'>>;
}

export class RunSupervisor {
  private readonly owner: string;
  private readonly mine = new Map<string, Promise<void>>();
  /** Aborted to stop a run of `mine` where it is (its lock is lost). */
  private readonly stops = new Map<string, AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: SupervisorOptions) {
    this.owner = `${o.nodeId}:${randomBytes(6).toString('hex')}`;
    defineScripts(o.redis, [RENEW, RELEASE]);
  }

  start(): void {
    const interval = Math.max(100, Math.floor(this.o.leaseTtlMs / 3));
    const tick = (): void => {
      if (this.stopped) return;
      this.ticking = this.tick().catch((error: unknown) =>
        this.o.log.warn({ err: error }, 'run supervisor tick failed'),
      );
      void this.ticking.finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, interval);
      });
    };
    tick();
  }

  /** Runs this node is running now. */
  running(): string[] {
    return [...this.mine.keys()];
  }

  /** Starts a new run on this node (the coordinator of its event). `false` if the run exists already. */
  async begin(run: RunState): Promise<boolean> {
    if (!(await this.o.store.create(run))) return false;
    if (!(await this.acquire(run.id))) return true; // another node took it at once; it will run it
    this.execute(run);
    return true;
  }

  /** Stops taking runs; waits up to `graceMs` for the runs in hand, then hands the rest over. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.ticking;
    const all = Promise.all(this.mine.values());
    let grace: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => (grace = setTimeout(() => r(true), graceMs))),
    ]);
    // Cleared: a pending grace timer would keep the process up for all of it after the drain.
    clearTimeout(grace);
    if (timedOut) {
      // The lease is left to lapse rather than released: a step still running here must not run
      // on another node at the same time. Once this process has exited, a peer takes the run over.
      for (const runId of this.mine.keys())
        this.o.log.warn({ run: runId }, 'handing the run over: a peer continues it once its lease lapses');
    }
  }

  private async acquire(runId: string): Promise<boolean> {
    return (
      (await this.o.redis.set(this.o.keys.runLease(runId), this.owner, 'PX', this.o.leaseTtlMs, 'NX')) ===
      'OK'
    );
  }

  private async tick(): Promise<void> {
    for (const runId of this.mine.keys()) {
      // Redis slow or away: unknown, kept (the store is fenced by the lease). A reply the script
      // never gives: lost, and the run stops here.
      const ours = await refusedAs(
        runScript(this.o.redis, RENEW, { lease: this.o.keys.runLease(runId) }, [
          this.owner,
          this.o.leaseTtlMs,
        ]),
        false,
      ).catch(() => true);
      if (!ours) {
        // Its writes are refused from now on (the store is fenced by the lease); its running steps
        // are cancelled, and no other step starts here.
        this.o.log.error(
          { run: runId },
          'run lease lost while running; another node may run it now: stopping it here',
        );
        this.stops
          .get(runId)
          ?.abort(new Error(`the run's lease was lost: another node may run it now, so this one stopped`));
        continue;
      }
      const run = await this.o.store.load(runId).catch(() => undefined);
      if (run === undefined) continue;
      // A renewal that could not reach Redis says nothing of the lock (its TTL outlasts the run).
      const held = await this.o.renewLock(run).catch((error: unknown) => {
        this.o.log.warn({ run: runId, err: error }, 'lock renewal failed');
        return true;
      });
      if (!held && run.status === 'running') {
        this.stops
          .get(runId)
          ?.abort(
            new Error(
              `the run lost its resource lock ${run.lock?.resource ?? ''} (expired or taken): another remediation may start on it, so this one stopped`,
            ),
          );
      }
    }
    if (this.stopped) return;
    for (const runId of await this.o.store.active()) {
      if (this.mine.has(runId) || this.stopped) continue;
      if (!(await this.acquire(runId))) continue;
      const run = await this.o.store.load(runId);
      if (run === undefined || run.status !== 'running') {
        // Not running: the lease goes (or lapses, if Redis refuses).
        await refusedAs(
          runScript(this.o.redis, RELEASE, { lease: this.o.keys.runLease(runId) }, [this.owner]),
          false,
        );
        continue;
      }
      this.o.log.warn(
        { run: runId, event: run.event.id, previous: run.nodes },
        'taking over a run whose node is gone',
      );
      this.execute(run);
    }
  }

  private execute(run: RunState): void {
    const workflow = this.o.workflows.get(run.workflow);
    const log = this.o.log.child({ event: run.event.id, run: run.id });
    const stop = new AbortController();
    const done = (async () => {
      if (workflow === undefined) {
        log.error({ workflow: run.workflow }, 'the run names a workflow this node does not have');
        return;
      }
      log.info({ workflow: run.workflow }, `workflow ${run.workflow} running`);
      const ended = await runWorkflow(run, {
        workflow,
        store: this.o.store.fenced(this.o.keys.runLease(run.id), this.owner),
        execute: this.o.execute,
        node: this.o.nodeId,
        stop: stop.signal,
        ...this.o.engine,
      });
      if (ended.status === 'running') return;
      log.info(
        {
          status: ended.status,
          failure: ended.failure,
          steps: Object.values(ended.steps).map((s) => `${s.id}:${s.status}`),
        },
        ended.status === 'succeeded'
          ? `workflow ${run.workflow} succeeded`
          : `workflow ${run.workflow} failed at ${ended.failure?.step ?? '?'}: ${ended.failure?.message ?? ''}`,
      );
      await this.o.onEnd(ended);
      await refusedAs(
        runScript(this.o.redis, RELEASE, { lease: this.o.keys.runLease(run.id) }, [this.owner]),
        false,
      );
    })()
      .catch((error: unknown) =>
        log.error(
          { err: error },
          'the run stopped on an error; its lease will lapse and a node will continue it',
        ),
      )
      .finally(() => {
        this.mine.delete(run.id);
        this.stops.delete(run.id);
      });
    this.stops.set(run.id, stop);
    this.mine.set(run.id, done);
  }
}
