/**
 * A workflow run as it is stored: the run and each step's state, written as they change, so that
 * a run whose node dies is continued by another node from the first step that had not succeeded.
 */
import type { LockRef } from '../common/lock-ref.js';
import type { CompiledStep } from '../config/types.js';

export type RunStatus = 'running' | 'succeeded' | 'failed';

/**
 * `unknown`: the step was running when its node died and it may not be run twice (`idempotent:
 * false`); nobody knows whether it took effect, so the run escalates instead of running it again.
 */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'unknown';

export interface StepState {
  readonly id: string;
  readonly phase: 'main' | 'on_failure';
  status: StepStatus;
  attempts: number;
  /** The node that ran (or skipped) it; after a takeover, the node of its last attempt. */
  node?: string;
  started_at?: string;
  finished_at?: string;
  duration_ms?: number;
  inputs?: unknown;
  outputs?: Record<string, unknown>;
  error?: string;
}

export interface RunFailure {
  readonly step: string;
  readonly message: string;
  /**
   * `step_failed`, `timeout` (the run's workflow_timeout), `unknown_outcome` (a non-idempotent step
   * cut by a crash), `lock_lost` (the run's resource lock expired or was taken: it stopped where it was).
   */
  readonly reason: 'step_failed' | 'timeout' | 'unknown_outcome' | 'lock_lost';
}

/** Everything a run needs to be continued by any node: the templates' context and the lock it holds. */
export interface RunState {
  readonly id: string;
  readonly workflow: string;
  status: RunStatus;
  readonly event: Readonly<Record<string, unknown>> & { readonly id: string; readonly service: string };
  readonly rule: {
    readonly id: string;
    readonly name: string;
    readonly inputs: Readonly<Record<string, unknown>>;
  };
  readonly params: Readonly<Record<string, unknown>>;
  readonly region: { readonly name: string; readonly orchestrator_url: string };
  readonly started_at: string;
  /** The run fails at this time (`workflow_timeout` after it started). */
  readonly deadline_at: string;
  finished_at?: string;
  failure?: RunFailure;
  /** The resource lock held for the run; released by whichever node ends it. */
  readonly lock?: LockRef;
  /** Nodes that ran it, in order (more than one after a takeover). */
  nodes: string[];
  readonly steps: Record<string, StepState>;
}

/** Runs one step's action: inputs rendered, one attempt. Rejects with `retryable` on the error when another attempt may help. */
export type StepExecutor = (
  step: CompiledStep,
  inputs: Readonly<Record<string, unknown>>,
  attempt: number,
  signal: AbortSignal,
  run: RunState,
) => Promise<Record<string, unknown>>;

/** Where runs are kept: Redis for the cluster, memory for a manual run. */
export interface RunStore {
  create(run: RunState): Promise<boolean>;
  load(runId: string): Promise<RunState | undefined>;
  /** Writes the run's own fields (status, failure, nodes...). */
  saveRun(run: RunState): Promise<void>;
  /** Writes one step's state. */
  saveStep(runId: string, step: StepState): Promise<void>;
  /**
   * Writes several steps' states, and with `run` its own fields too, in one write: a step's end
   * and the start of the steps it lets go, or the last step's end and the run's. All or nothing.
   */
  saveSteps(runId: string, steps: readonly StepState[], run?: RunState): Promise<void>;
}
