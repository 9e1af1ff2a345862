/**
 * Runs a workflow DAG. Steps whose `needs` are done run in parallel (bounded); `when` skips a step;
 * each attempt has the step's timeout; a retryable failure is retried with exponential backoff; the
 * run fails at its `workflow_timeout`. A failed run runs its `on_failure` steps (each in turn, each
 * with its own timeout: escalating must still work after the run's deadline).
 *
 * Every state change is written to the run store before the engine goes on, so that another node
 * can continue the run from the first step that had not succeeded. A step found `running` on
 * resume ran on a node that died: it runs again if it is idempotent, otherwise its outcome is
 * unknown and the run escalates rather than risk doing it twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { evaluateCondition, parseCondition, render } from '../common/template.js';
import type { CompiledStep, CompiledWorkflow } from '../config/types.js';
import type { RunFailure, RunState, RunStore, StepExecutor, StepState } from './types.js';

export interface EngineOptions {
  readonly workflow: CompiledWorkflow;
  readonly store: RunStore;
  readonly execute: StepExecutor;
  /** This node, added to the run's `nodes`. */
  readonly node: string;
  /** Steps at once. @defaultValue 8 */
  readonly concurrency?: number;
  /** Longest wait between two attempts. @defaultValue 60 s */
  readonly maxBackoffMs?: number;
  readonly now?: () => number;
  /** Told of each step's end, for logs and metrics. */
  readonly onStep?: (run: RunState, step: StepState) => void;
  /**
   * Aborted when the run must stop where it is because its resource lock is lost (another
   * remediation may take the resource now): running steps are cancelled, no other step starts, the
   * run fails with reason `lock_lost` (the abort reason's message) and its on_failure steps run.
   */
  readonly stop?: AbortSignal;
}

class RunTimeout extends Error {
  constructor(readonly deadline: string) {
    super(`the run's workflow_timeout passed (deadline ${deadline})`);
  }
}

class SiblingFailed extends Error {}

class LockLost extends Error {}

/** Runs (or continues) `run` to its end; resolves with its final state. */
export async function runWorkflow(run: RunState, o: EngineOptions): Promise<RunState> {
  const now = o.now ?? Date.now;
  if (run.status !== 'running') return run;
  if (!run.nodes.includes(o.node) || run.nodes[run.nodes.length - 1] !== o.node) run.nodes.push(o.node);
  await o.store.saveRun(run);

  // Steps cut by a crash: run again if that is safe, otherwise their outcome is unknown.
  const byId = new Map([...o.workflow.steps, ...o.workflow.onFailure].map((s) => [s.id, s]));
  for (const state of Object.values(run.steps)) {
    if (state.status !== 'running') continue;
    const step = byId.get(state.id);
    if (step?.idempotent === false && state.phase === 'main') {
      state.status = 'unknown';
      state.error =
        'the node running this step died; it may not be run twice (idempotent: false), so the run escalates';
      run.failure ??= { step: state.id, message: state.error, reason: 'unknown_outcome' };
    } else {
      state.status = 'pending';
    }
    await o.store.saveStep(run.id, state);
  }
  // A main step that failed, in a record whose run has no failure yet (its node died between the
  // two, in a release that wrote them apart): the run has failed, it must not end `succeeded`.
  if (run.failure === undefined) {
    const failedStep = o.workflow.steps.find((s) => run.steps[s.id]?.status === 'failed');
    if (failedStep !== undefined)
      run.failure = {
        step: failedStep.id,
        message: run.steps[failedStep.id]?.error ?? 'the step failed',
        reason: 'step_failed',
      };
  }

  const unsaved = new Unsaved(run.id, o.store);
  if (run.failure === undefined) await runMain(run, o, now, unsaved);
  if (run.failure !== undefined) {
    await unsaved.write([], run);
    await runOnFailure(run, o);
  }
  run.status = run.failure === undefined ? 'succeeded' : 'failed';
  run.finished_at = new Date(now()).toISOString();
  await unsaved.write([], run);
  return run;
}

/**
 * Main steps that ended well (succeeded, skipped) and are not written yet. Each goes with the next
 * write of the run: the start of the steps it lets go, a sibling's attempt, or the run's own; the
 * engine writes them alone only when nothing else is to be written (one write per transition).
 */
class Unsaved {
  readonly #ended = new Map<string, StepState>();

  constructor(
    private readonly runId: string,
    private readonly store: RunStore,
  ) {}

  get size(): number {
    return this.#ended.size;
  }

  add(state: StepState): void {
    this.#ended.set(state.id, state);
  }

  /**
   * Writes these states (and the run's own fields, with `run`) with every ended step not written
   * yet, in one write. A step that ends while the write is in flight waits for the next one.
   */
  async write(states: readonly StepState[], run?: RunState): Promise<void> {
    const batch = [...this.#ended.values()];
    await this.store.saveSteps(this.runId, [...batch, ...states], run);
    for (const state of batch) if (this.#ended.get(state.id) === state) this.#ended.delete(state.id);
  }
}

async function runMain(run: RunState, o: EngineOptions, now: () => number, unsaved: Unsaved): Promise<void> {
  const concurrency = o.concurrency ?? 8;
  const remaining = Date.parse(run.deadline_at) - now();
  const timeout = new AbortController();
  const failed = new AbortController();
  const stopped = new AbortController();
  const timer = setTimeout(() => timeout.abort(new RunTimeout(run.deadline_at)), Math.max(0, remaining));
  const stop = (): void => stopped.abort(new LockLost(errorText(o.stop?.reason)));
  if (o.stop?.aborted === true) stop();
  else o.stop?.addEventListener('abort', stop, { once: true });
  const ended = AbortSignal.any([timeout.signal, stopped.signal]);
  const ends = (state: StepState): void => {
    unsaved.add(state);
    o.onStep?.(run, state);
  };
  try {
    const inflight = new Map<string, Promise<void>>();
    for (;;) {
      // A step may end while a write is in flight: after one, look at the steps again before
      // waiting (or ending the run), so that what it lets go is not left pending.
      let wrote = false;
      if (run.failure === undefined && !ended.aborted) {
        // The steps that may start now (their needs done), as many as there are free slots: a
        // step skipped by its `when` may let others go at once, so look again until none is.
        const starting: { step: CompiledStep; inputs: Record<string, unknown>; before: StepState }[] = [];
        for (let looked = false; !looked;) {
          looked = true;
          for (const step of o.workflow.steps) {
            const state = run.steps[step.id];
            if (state === undefined || state.status !== 'pending' || inflight.has(step.id)) continue;
            if (starting.some((s) => s.step.id === step.id)) continue;
            if (!step.needs.every((n) => isDone(run.steps[n]?.status))) continue;
            const context = templateContext(run);
            if (step.when !== undefined && !evaluateCondition(parseCondition(step.when), context)) {
              skip(state, o.node);
              ends(state);
              looked = false;
              continue;
            }
            if (inflight.size + starting.length >= concurrency) continue;
            const before = structuredClone(state);
            const inputs = render(step.inputs, context) as Record<string, unknown>;
            state.inputs = inputs;
            beginAttempt(state, o.node);
            starting.push({ step, inputs, before });
          }
        }
        if (starting.length > 0 || (unsaved.size > 0 && inflight.size > 0)) {
          // One write: what ended since the last one, and the start of these (or, while others
          // still run and none starts, what ended alone). A step whose `running` state cannot be
          // written does not start, and the run fails: its siblings are stopped and waited for.
          const states = starting.map(({ step }) => run.steps[step.id] as StepState);
          wrote = true;
          try {
            await unsaved.write(states);
          } catch (error) {
            for (const { step, before } of starting) Object.assign(run.steps[step.id] as StepState, before);
            starting.length = 0;
            run.failure ??= {
              step: states[0]?.id ?? '(run)',
              message: errorText(error),
              reason: 'step_failed',
            };
            failed.abort(new SiblingFailed(`the run could not be written: ${errorText(error)}`));
          }
        }
        for (const { step, inputs } of starting) {
          const save = (state: StepState, withRun?: RunState): Promise<void> =>
            unsaved.write([state], withRun);
          inflight.set(
            step.id,
            attempts(run, step, inputs, o, AbortSignal.any([ended, failed.signal]), ends, save).then(
              () => {
                inflight.delete(step.id);
                if (run.steps[step.id]?.status === 'failed')
                  failed.abort(new SiblingFailed(`step ${step.id} failed`));
              },
              (error: unknown) => {
                inflight.delete(step.id);
                run.failure ??= { step: step.id, message: errorText(error), reason: 'step_failed' };
                failed.abort(new SiblingFailed(`step ${step.id} failed`));
              },
            ),
          );
        }
      }
      if (wrote) continue;
      if (inflight.size === 0) break;
      await Promise.race(inflight.values());
    }
    if (run.failure === undefined && ended.aborted) {
      run.failure = {
        step: firstUnfinished(run, o.workflow) ?? '(run)',
        message: errorText(ended.reason),
        reason: ended.reason instanceof LockLost ? 'lock_lost' : 'timeout',
      };
    }
    // A run succeeds only when every main step has: one left pending here would be the engine's
    // own fault, and is a failure (people are told), never a success.
    const unfinished = firstUnfinished(run, o.workflow);
    if (run.failure === undefined && unfinished !== undefined)
      run.failure = {
        step: unfinished,
        message: `step ${unfinished} never ran: the run stopped with it ${run.steps[unfinished]?.status ?? 'missing'}`,
        reason: 'step_failed',
      };
  } finally {
    clearTimeout(timer);
    o.stop?.removeEventListener('abort', stop);
  }
}

function skip(state: StepState, node: string): void {
  state.status = 'skipped';
  state.node = node;
  state.finished_at = new Date().toISOString();
}

/** The state of a step as an attempt starts (written before the attempt runs). */
function beginAttempt(state: StepState, node: string): void {
  state.attempts += 1;
  state.status = 'running';
  state.node = node;
  state.started_at ??= new Date().toISOString();
  delete state.error;
}

/** One step to its end, written as it goes: skipped, succeeded, or failed (recording `run.failure`). */
async function runStep(
  run: RunState,
  step: CompiledStep,
  o: EngineOptions,
  runSignal: AbortSignal,
): Promise<void> {
  const state = run.steps[step.id];
  if (state === undefined) return;
  const context = templateContext(run);
  if (step.when !== undefined && !evaluateCondition(parseCondition(step.when), context)) {
    skip(state, o.node);
    await o.store.saveStep(run.id, state);
    o.onStep?.(run, state);
    return;
  }
  const inputs = render(step.inputs, context) as Record<string, unknown>;
  state.inputs = inputs;
  beginAttempt(state, o.node);
  await o.store.saveStep(run.id, state);
  const save = (ended: StepState, withRun?: RunState): Promise<void> =>
    withRun === undefined ? o.store.saveStep(run.id, ended) : o.store.saveSteps(run.id, [ended], withRun);
  await attempts(
    run,
    step,
    inputs,
    o,
    runSignal,
    async (ended) => {
      await save(ended);
      o.onStep?.(run, ended);
    },
    save,
  );
}

/**
 * The attempts of a step whose first attempt is recorded `running` already, until it succeeds or
 * fails. A success is handed to `succeeded` (to write now, or with the next write); a failed
 * attempt and each further attempt are written at once.
 */
async function attempts(
  run: RunState,
  step: CompiledStep,
  inputs: Record<string, unknown>,
  o: EngineOptions,
  runSignal: AbortSignal,
  succeeded: (state: StepState) => void | Promise<void>,
  save: (state: StepState, withRun?: RunState) => Promise<void>,
): Promise<void> {
  const state = run.steps[step.id];
  if (state === undefined) return;
  for (;;) {
    const attempt = state.attempts;
    const started = performance.now();
    const signal = AbortSignal.any([runSignal, AbortSignal.timeout(step.timeoutMs)]);
    try {
      state.outputs = await o.execute(step, inputs, attempt, signal, run);
      state.status = 'succeeded';
      state.duration_ms = (state.duration_ms ?? 0) + Math.round(performance.now() - started);
      state.finished_at = new Date().toISOString();
      await succeeded(state);
      return;
    } catch (error) {
      state.duration_ms = (state.duration_ms ?? 0) + Math.round(performance.now() - started);
      const cause: unknown = runSignal.aborted
        ? runSignal.reason
        : signal.aborted
          ? new Error(`step timeout (${step.timeoutMs} ms) passed`)
          : error;
      state.error = `attempt ${attempt}: ${errorText(cause)}${cause === error ? '' : ` (${errorText(error)})`}`;
      const retryable =
        !runSignal.aborted &&
        step.retryable &&
        attempt <= step.retries &&
        (signal.aborted || (error as { retryable?: unknown }).retryable !== false);
      if (!retryable) {
        state.status = 'failed';
        state.finished_at = new Date().toISOString();
        if (!(runSignal.reason instanceof SiblingFailed)) {
          run.failure ??=
            runSignal.reason instanceof RunTimeout
              ? { step: step.id, message: errorText(runSignal.reason), reason: 'timeout' }
              : runSignal.reason instanceof LockLost
                ? { step: step.id, message: errorText(runSignal.reason), reason: 'lock_lost' }
                : { step: step.id, message: state.error, reason: 'step_failed' };
        }
        // The step's failure and the run's, in one write: a node taking the run over after a crash
        // finds the run failed, never a failed step in a run that would go on to succeed.
        await save(state, run.failure === undefined ? undefined : run);
        o.onStep?.(run, state);
        return;
      }
      await save(state);
      const backoff = Math.min(step.retryBackoffMs * 2 ** (attempt - 1), o.maxBackoffMs ?? 60_000);
      try {
        await sleep(backoff, undefined, { signal: runSignal });
      } catch {
        // the run ended while waiting: the next attempt sees the aborted signal and stops
      }
      beginAttempt(state, o.node);
      await save(state);
    }
  }
}

/** The on_failure steps, each in turn; a failing one is recorded and the next still runs. */
async function runOnFailure(run: RunState, o: EngineOptions): Promise<void> {
  for (const step of o.workflow.onFailure) {
    const state = run.steps[step.id];
    if (state === undefined || isDone(state.status) || state.status === 'failed') continue;
    if (!step.needs.every((n) => isDone(run.steps[n]?.status))) {
      state.status = 'skipped';
      state.error = 'a step it needs did not succeed';
      await o.store.saveStep(run.id, state);
      continue;
    }
    await runStep(run, step, o, new AbortController().signal);
  }
}

function isDone(status: string | undefined): boolean {
  return status === 'succeeded' || status === 'skipped';
}

function firstUnfinished(run: RunState, workflow: CompiledWorkflow): string | undefined {
  return workflow.steps.find((s) => !isDone(run.steps[s.id]?.status))?.id;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What templates see: `event`, `rule`, `params`, `region`, `steps.<id>.{status,outputs}`, `failure`. */
export function templateContext(run: RunState): Record<string, unknown> {
  return {
    event: run.event,
    rule: { name: run.rule.name, inputs: run.rule.inputs },
    params: run.params,
    region: run.region,
    steps: Object.fromEntries(
      Object.values(run.steps).map((s) => [s.id, { status: s.status, outputs: s.outputs ?? {} }]),
    ),
    ...(run.failure === undefined ? {} : { failure: run.failure }),
  };
}

/** A new run's state: every step pending. */
export function newRun(
  init: Omit<RunState, 'status' | 'steps' | 'nodes' | 'deadline_at' | 'started_at'> & {
    readonly timeoutMs: number;
    readonly now?: number;
  },
  workflow: CompiledWorkflow,
): RunState {
  const started = init.now ?? Date.now();
  const { timeoutMs: _t, now: _n, ...rest } = init;
  const steps: Record<string, StepState> = {};
  for (const s of workflow.steps) steps[s.id] = { id: s.id, phase: 'main', status: 'pending', attempts: 0 };
  for (const s of workflow.onFailure)
    steps[s.id] = { id: s.id, phase: 'on_failure', status: 'pending', attempts: 0 };
  return {
    ...rest,
    status: 'running',
    started_at: new Date(started).toISOString(),
    deadline_at: new Date(started + init.timeoutMs).toISOString(),
    nodes: [],
    steps,
  };
}

export type { RunFailure };
