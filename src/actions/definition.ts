/**
 * A workflow action. Each action lives in a file of its own and is listed in `registry.ts`, with
 * JSON Schemas of its inputs and outputs: the configuration loader checks workflow steps and their
 * templates against them, and the engine validates the rendered inputs before `run`.
 *
 * Actions reach the outside only through `ActionContext`: the HTTP orchestrator by URL, the pager
 * and the notifier through the ports their modules own (`pager/port.ts`, `notify/port.ts`), which the
 * composition root fills, scripts only from the allow-listed directory.
 */
import type { ActionSpec } from '../config/catalog.js';
import type { NotifierPort } from '../notify/port.js';
import type { PagerPort } from '../pager/port.js';

export const noOutputs = { type: 'object', properties: {} } as const;

export type { NotifierPort, PagerPort };

export interface ActionContext {
  /** Aborted at the step's timeout or the run's. An action stops promptly when it fires. */
  readonly signal: AbortSignal;
  readonly runId: string;
  readonly stepId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The event's service (for notifications). */
  readonly service: string;
  readonly pager: PagerPort;
  readonly notifier: NotifierPort;
  /** The only directory `exec` may run scripts from; `undefined`: `exec` is refused. */
  readonly execDir: string | undefined;
  /** Source address of outbound health checks (this node's zone). */
  readonly sourceAddress?: string;
  /**
   * The run's resource lock and its fencing token (absent for a run without a lock, such as
   * `lazarus run-workflow`). `http.request` sends them with every call (`Lazarus-Fencing-Token`,
   * `Lazarus-Lock-Resource`), so that the orchestrator can refuse a call carrying a token older
   * than one it has seen for the resource: a run that lost its lock while paused cannot act.
   */
  readonly fence?: { readonly resource: string; readonly token: number };
}

export interface ActionDefinition extends ActionSpec {
  /** Runs the action with inputs already rendered and validated; resolves with its outputs. */
  run(inputs: Readonly<Record<string, unknown>>, context: ActionContext): Promise<Record<string, unknown>>;
}
