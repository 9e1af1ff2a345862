/**
 * Runs in Redis, one hash per run: field `run` holds the run's own fields, one field per step holds
 * that step's state, so that each change is one small HSET and never rewrites its neighbours.
 * Active runs are indexed by their deadline, for the supervisor that takes over orphaned runs.
 */
import type { RedisClient } from '../common/redis.js';
import { LzError } from '../common/errors.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, replies, runScript, script } from '../common/lua.js';
import type { RunState, RunStore, StepState } from './types.js';
import { RunStoreErrorCodes } from './errors.js';

export { RunStoreErrorCodes };

/** Finished runs are kept this long for the audit trail. */
const FINISHED_TTL_MS = 7 * 24 * 3_600_000;

/** `1` written, `0` refused (the lease is another's). */
const SAVE = script('workflow', 'run-save', ['lease', 'run', 'active'], replies.yesNo);

export class RedisRunStore implements RunStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async create(run: RunState): Promise<boolean> {
    const { steps, ...own } = run;
    const key = this.keys.run(run.id);
    const created = await this.redis.hsetnx(key, 'run', JSON.stringify(own));
    if (created !== 1) return false;
    const fields = Object.values(steps).flatMap((s) => [`step:${s.id}`, JSON.stringify(s)]);
    await this.redis
      .multi()
      .hset(key, ...fields)
      .zadd(this.keys.activeRuns, Date.parse(run.deadline_at), run.id)
      .exec();
    return true;
  }

  async load(runId: string): Promise<RunState | undefined> {
    const fields = await this.redis.hgetall(this.keys.run(runId));
    const own = fields['run'];
    if (own === undefined) return undefined;
    const steps: Record<string, StepState> = {};
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith('step:')) {
        const step = JSON.parse(value) as StepState;
        steps[step.id] = step;
      }
    }
    return { ...(JSON.parse(own) as Omit<RunState, 'steps'>), steps };
  }

  async saveRun(run: RunState): Promise<void> {
    const { steps: _steps, ...own } = run;
    const key = this.keys.run(run.id);
    if (run.status === 'running') {
      await this.redis.hset(key, 'run', JSON.stringify(own));
    } else {
      await this.redis
        .multi()
        .hset(key, 'run', JSON.stringify(own))
        .zrem(this.keys.activeRuns, run.id)
        .pexpire(key, FINISHED_TTL_MS)
        .exec();
    }
  }

  async saveStep(runId: string, step: StepState): Promise<void> {
    await this.redis.hset(this.keys.run(runId), `step:${step.id}`, JSON.stringify(step));
  }

  async saveSteps(runId: string, steps: readonly StepState[], run?: RunState): Promise<void> {
    const key = this.keys.run(runId);
    const fields = fieldsOf(steps, run);
    if (fields.length === 0) return;
    if (run === undefined || run.status === 'running') {
      await this.redis.hset(key, ...fields);
      return;
    }
    await this.redis
      .multi()
      .hset(key, ...fields)
      .zrem(this.keys.activeRuns, run.id)
      .pexpire(key, FINISHED_TTL_MS)
      .exec();
  }

  /**
   * The same store, whose writes go through only while `owner` holds the run lease `leaseKey`; a
   * refused write throws `LZ_ERR_RUN_LEASE_LOST` (so the engine starts no step it cannot record).
   */
  fenced(leaseKey: string, owner: string): RunStore {
    defineScripts(this.redis, [SAVE]);
    const write = async (run: string, fields: readonly string[], finished: boolean): Promise<void> => {
      if (fields.length === 0) return;
      const written = await runScript(
        this.redis,
        SAVE,
        { lease: leaseKey, run: this.keys.run(run), active: this.keys.activeRuns },
        [owner, finished ? 1 : 0, run, FINISHED_TTL_MS, ...fields],
      );
      if (!written) {
        throw new LzError(
          RunStoreErrorCodes.LEASE_LOST,
          `run ${run}: its lease is no longer this node's (${owner}); another node runs it now, so this one writes nothing more`,
        );
      }
    };
    return {
      create: (run) => this.create(run),
      load: (runId) => this.load(runId),
      saveRun: (run) => write(run.id, fieldsOf([], run), run.status !== 'running'),
      saveStep: (runId, step) => write(runId, fieldsOf([step]), false),
      saveSteps: (runId, steps, run) =>
        write(runId, fieldsOf(steps, run), run !== undefined && run.status !== 'running'),
    };
  }

  /** Ids of runs not finished yet. */
  async active(): Promise<string[]> {
    return this.redis.zrange(this.keys.activeRuns, '0', '-1');
  }
}

/** Hash fields and values for steps (`step:<id>`) and, with `run`, the run's own fields (`run`). */
function fieldsOf(steps: readonly StepState[], run?: RunState): string[] {
  const fields = steps.flatMap((s) => [`step:${s.id}`, JSON.stringify(s)]);
  if (run !== undefined) {
    const { steps: _steps, ...own } = run;
    fields.push('run', JSON.stringify(own));
  }
  return fields;
}
