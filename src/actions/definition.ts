/**
 * A workflow action. Each action lives in a file of its own and is listed in `registry.ts`, with
 * JSON Schemas of its inputs and outputs: the configuration loader checks workflow steps and their
 * templates against them, and the engine validates the rendered inputs before `run`.
 *
 * Actions reach the outside only through `ActionContext`: the HTTP orchestrator by URL, the pager
 * and the notifier through ports that the composition root provides (recording stubs until the
 * paging and notification modules land), scripts only from the allow-listed directory.
 */
import type { ActionSpec } from '../config/catalog.js';

export const noOutputs = { type: 'object', properties: {} } as const;

/** The paging calls a workflow can make, by incident key. */
export interface PagerPort {
  acknowledge(incidentKey: string, signal: AbortSignal): Promise<{ incident_id: string; status: string }>;
  resolve(
    incidentKey: string,
    note: string | undefined,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; status: string }>;
  escalate(
    incidentKey: string,
    reason: string,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; escalation_level: number }>;
  note(incidentKey: string, content: string, signal: AbortSignal): Promise<{ note_id: string }>;
}

/** Messages to people: a service's channels, or a named group. */
export interface NotifierPort {
  send(
    message: {
      readonly text: string;
      readonly group?: string;
      readonly channels?: readonly string[];
      readonly service: string;
    },
    signal: AbortSignal,
  ): Promise<{ sent: number }>;
}

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
}

export interface ActionDefinition extends ActionSpec {
  /** Runs the action with inputs already rendered and validated; resolves with its outputs. */
  run(inputs: Readonly<Record<string, unknown>>, context: ActionContext): Promise<Record<string, unknown>>;
}
