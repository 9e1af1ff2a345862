/** Runs kept in memory: for a manual `lazarus run-workflow` and for the engine's unit tests. */
import type { RunState, RunStore, StepState } from './types.js';

export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, RunState>();
  /** Every write, in order: what a test inspects to see that state was saved as it changed. */
  readonly writes: { kind: 'run' | 'step'; id: string; status: string }[] = [];
  /** Write calls (a `saveSteps` of several steps is one), as a store in Redis would make them. */
  calls = 0;

  create(run: RunState): Promise<boolean> {
    if (this.runs.has(run.id)) return Promise.resolve(false);
    this.runs.set(run.id, structuredClone(run));
    return Promise.resolve(true);
  }

  load(runId: string): Promise<RunState | undefined> {
    const run = this.runs.get(runId);
    return Promise.resolve(run === undefined ? undefined : structuredClone(run));
  }

  saveRun(run: RunState): Promise<void> {
    this.calls++;
    return this.#saveRun(run);
  }

  #saveRun(run: RunState): Promise<void> {
    const stored = this.runs.get(run.id);
    this.runs.set(run.id, { ...structuredClone(run), steps: stored?.steps ?? structuredClone(run.steps) });
    this.writes.push({ kind: 'run', id: run.id, status: run.status });
    return Promise.resolve();
  }

  saveStep(runId: string, step: StepState): Promise<void> {
    this.calls++;
    return this.#saveStep(runId, step);
  }

  #saveStep(runId: string, step: StepState): Promise<void> {
    const stored = this.runs.get(runId);
    if (stored !== undefined) stored.steps[step.id] = structuredClone(step);
    this.writes.push({ kind: 'step', id: step.id, status: step.status });
    return Promise.resolve();
  }

  async saveSteps(runId: string, steps: readonly StepState[], run?: RunState): Promise<void> {
    this.calls++;
    for (const step of steps) await this.#saveStep(runId, step);
    if (run !== undefined) await this.#saveRun(run);
  }
}
