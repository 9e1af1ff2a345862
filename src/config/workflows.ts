/**
 * Workflow files: a DAG of steps. Validated when the configuration loads (unknown `needs`, cycles,
 * unknown actions, inputs the action does not take, templates that refer to nothing, bad `when`),
 * so that a broken workflow is found by `lazarus validate`, not in the middle of a remediation.
 */
import { ENVELOPE_FIELDS } from '../common/envelope.js';
import { parseDuration } from '../common/duration.js';
import { TemplateSyntaxError, findRefs, parseCondition } from '../common/template.js';
import type { RefPath } from '../common/template.js';
import { PARAMETERS } from './parameters.js';
import { WORKFLOW_SCHEMA } from './schemas.js';
import { ajv, checkSchema } from './schema-check.js';
import type { Catalog } from './catalog.js';
import type { ConfigIssue, YamlSource } from './source.js';
import type { CompiledStep, CompiledWorkflow, RawStep, RawWorkflow } from './types.js';

const validateWorkflow = ajv.compile(WORKFLOW_SCHEMA);

export const STEP_DEFAULTS = { timeout: '5m', retries: 0, retryBackoff: '1s' } as const;

/** Fields a workflow may read under `region.` */
export const REGION_TEMPLATE_FIELDS = ['name', 'orchestrator_url'] as const;
/** Fields an `on_failure` step may read under `failure.` */
export const FAILURE_TEMPLATE_FIELDS = ['step', 'message', 'reason'] as const;

/** A `{{ rule.inputs.X }}` reference: checked against each rule that uses the workflow. */
export interface RuleInputRef {
  readonly key: string;
  readonly at: readonly (string | number)[];
}

export interface LoadedWorkflow {
  readonly workflow: CompiledWorkflow;
  readonly source: YamlSource;
  readonly ruleInputRefs: readonly RuleInputRef[];
}

export function compileWorkflow(
  source: YamlSource,
  catalog: Catalog,
  issues: ConfigIssue[],
): LoadedWorkflow | undefined {
  if (!checkSchema(validateWorkflow, source.value, source, issues)) return undefined;
  const raw = source.value as RawWorkflow;
  const before = issues.length;
  const onFailure = raw.on_failure ?? [];

  // Step ids are unique over steps and on_failure together: templates name them.
  const where = new Map<string, (string | number)[]>();
  const all: [RawStep, (string | number)[]][] = [
    ...raw.steps.map((s, i): [RawStep, (string | number)[]] => [s, ['steps', i]]),
    ...onFailure.map((s, i): [RawStep, (string | number)[]] => [s, ['on_failure', i]]),
  ];
  for (const [step, at] of all) {
    if (where.has(step.id)) issues.push(source.issue([...at, 'id'], `step id "${step.id}" is used twice`));
    else where.set(step.id, at);
  }

  const main = new Map(raw.steps.map((s) => [s.id, s]));
  const failure = new Map(onFailure.map((s) => [s.id, s]));
  checkNeeds(raw.steps, main, 'steps', source, issues);
  checkNeeds(onFailure, failure, 'on_failure', source, issues);
  const mainOrder = topologicalOrder(raw.steps, 'steps', source, issues);
  const failureOrder = topologicalOrder(onFailure, 'on_failure', source, issues);

  const ruleInputRefs: RuleInputRef[] = [];
  for (const [step, at] of all) {
    const action = catalog.actions.get(step.action);
    if (action === undefined) {
      issues.push(
        source.issue(
          [...at, 'action'],
          `unknown action "${step.action}"; known actions: ${[...catalog.actions.keys()].sort().join(', ')}`,
        ),
      );
    } else {
      checkInputKeys(step, action.inputs, at, source, issues);
    }
    const inFailure = at[0] === 'on_failure';
    const visible = inFailure
      ? new Set([...main.keys(), ...ancestors(step.id, failure)])
      : ancestors(step.id, main);
    const check = (ref: RefPath, refAt: readonly (string | number)[]): void => {
      const problem = checkRef(ref, visible, inFailure, catalog, main, failure);
      if (problem !== undefined) issues.push(source.issue(refAt, problem));
      if (ref[0] === 'rule' && ref[1] === 'inputs' && ref[2] !== undefined)
        ruleInputRefs.push({ key: ref[2], at: refAt });
    };
    for (const found of findRefs(step.inputs ?? {}, (a, m) =>
      issues.push(source.issue([...at, 'inputs', ...a], m)),
    )) {
      check(found.ref, [...at, 'inputs', ...found.at]);
    }
    if (step.when !== undefined) {
      try {
        check(parseCondition(step.when).ref, [...at, 'when']);
      } catch (error) {
        if (!(error instanceof TemplateSyntaxError)) throw error;
        issues.push(source.issue([...at, 'when'], error.message));
      }
    }
  }
  if (issues.length > before || mainOrder === undefined || failureOrder === undefined) return undefined;

  return {
    source,
    ruleInputRefs,
    workflow: {
      name: raw.name,
      description: raw.description ?? '',
      steps: mainOrder.map(compileStep),
      onFailure: failureOrder.map(compileStep),
      file: source.file,
    },
  };
}

function compileStep(step: RawStep): CompiledStep {
  return {
    id: step.id,
    action: step.action,
    inputs: step.inputs ?? {},
    needs: step.needs ?? [],
    ...(step.when === undefined ? {} : { when: step.when }),
    timeoutMs: parseDuration(step.timeout ?? STEP_DEFAULTS.timeout) ?? 0,
    retries: step.retryable === false ? 0 : (step.retries ?? STEP_DEFAULTS.retries),
    retryBackoffMs: parseDuration(step.retry_backoff ?? STEP_DEFAULTS.retryBackoff) ?? 0,
    idempotent: step.idempotent ?? true,
    retryable: step.retryable ?? true,
  };
}

function checkNeeds(
  steps: readonly RawStep[],
  byId: ReadonlyMap<string, RawStep>,
  list: string,
  source: YamlSource,
  issues: ConfigIssue[],
): void {
  steps.forEach((step, i) => {
    (step.needs ?? []).forEach((need, j) => {
      if (need === step.id)
        issues.push(source.issue([list, i, 'needs', j], `step "${step.id}" needs itself`));
      else if (!byId.has(need)) {
        issues.push(
          source.issue(
            [list, i, 'needs', j],
            `step "${step.id}" needs "${need}", which is not a step of ${list}; steps: ${[...byId.keys()].join(', ')}`,
          ),
        );
      }
    });
  });
}

/** Kahn's algorithm, stable in file order; reports one cycle per strongly connected knot it leaves. */
function topologicalOrder(
  steps: readonly RawStep[],
  list: string,
  source: YamlSource,
  issues: ConfigIssue[],
): RawStep[] | undefined {
  const ids = new Set(steps.map((s) => s.id));
  const pending = new Map(
    steps.map((s) => [s.id, new Set((s.needs ?? []).filter((n) => ids.has(n) && n !== s.id))]),
  );
  const order: RawStep[] = [];
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const step of steps) {
      const waits = pending.get(step.id);
      if (waits !== undefined && waits.size === 0) {
        pending.delete(step.id);
        order.push(step);
        for (const other of pending.values()) other.delete(step.id);
        progressed = true;
      }
    }
  }
  if (pending.size === 0) return order;
  // Walk `needs` from a stuck step until a step repeats: that is a cycle to show.
  const start = [...pending.keys()][0] ?? '';
  const path: string[] = [start];
  for (;;) {
    const next = [...(pending.get(path[path.length - 1] ?? '') ?? [])][0];
    if (next === undefined) break;
    const seenAt = path.indexOf(next);
    if (seenAt >= 0) {
      const cycle = [...path.slice(seenAt), next];
      const index = steps.findIndex((s) => s.id === next);
      issues.push(source.issue([list, index, 'needs'], `cycle in ${list}: ${cycle.join(' → ')}`));
      return undefined;
    }
    path.push(next);
  }
  issues.push(source.issue([list], `steps ${[...pending.keys()].join(', ')} can never run (cycle)`));
  return undefined;
}

/** Every step `id` depends on, directly or through other steps. */
function ancestors(id: string, byId: ReadonlyMap<string, RawStep>): Set<string> {
  const out = new Set<string>();
  const stack = [...(byId.get(id)?.needs ?? [])];
  while (stack.length > 0) {
    const next = stack.pop() ?? '';
    if (out.has(next) || next === id) continue;
    out.add(next);
    stack.push(...(byId.get(next)?.needs ?? []));
  }
  return out;
}

function checkInputKeys(
  step: RawStep,
  schema: Record<string, unknown>,
  at: readonly (string | number)[],
  source: YamlSource,
  issues: ConfigIssue[],
): void {
  const properties = Object.keys((schema['properties'] as object | undefined) ?? {});
  const required = (schema['required'] as string[] | undefined) ?? [];
  const given = step.inputs ?? {};
  for (const key of Object.keys(given)) {
    if (!properties.includes(key)) {
      issues.push(
        source.issue(
          [...at, 'inputs', key],
          `action "${step.action}" takes no input "${key}"; its inputs: ${properties.join(', ')}`,
          true,
        ),
      );
    }
  }
  for (const key of required) {
    if (!(key in given))
      issues.push(source.issue([...at, 'inputs'], `action "${step.action}" needs input "${key}"`));
  }
}

/** Why a reference cannot resolve, or `undefined` when it can. */
function checkRef(
  ref: RefPath,
  visibleSteps: ReadonlySet<string>,
  inFailure: boolean,
  catalog: Catalog,
  main: ReadonlyMap<string, RawStep>,
  failure: ReadonlyMap<string, RawStep>,
): string | undefined {
  const [root, first, ...rest] = ref;
  const text = `{{ ${ref.join('.')} }}`;
  switch (root) {
    case 'event':
      if (first === undefined) return `${text}: name a field of the event, e.g. {{ event.host }}`;
      if (!(ENVELOPE_FIELDS as readonly string[]).includes(first))
        return `${text}: events have no field "${first}"; fields: ${ENVELOPE_FIELDS.join(', ')}`;
      if (first !== 'data' && rest.length > 0) return `${text}: event.${first} has no fields`;
      return undefined;
    case 'rule':
      if (first === 'name' && rest.length === 0) return undefined;
      if (first === 'inputs' && rest.length >= 1) return undefined; // checked against each rule that uses this workflow
      return `${text}: expected {{ rule.name }} or {{ rule.inputs.NAME }}`;
    case 'params':
      if (first !== undefined && first in PARAMETERS && rest.length === 0) return undefined;
      return `${text}: unknown parameter; parameters: ${Object.keys(PARAMETERS).join(', ')}`;
    case 'region':
      if (
        first !== undefined &&
        (REGION_TEMPLATE_FIELDS as readonly string[]).includes(first) &&
        rest.length === 0
      )
        return undefined;
      return `${text}: expected one of ${REGION_TEMPLATE_FIELDS.map((f) => `region.${f}`).join(', ')}`;
    case 'failure':
      if (!inFailure) return `${text}: failure.* is only known in on_failure steps`;
      if (
        first !== undefined &&
        (FAILURE_TEMPLATE_FIELDS as readonly string[]).includes(first) &&
        rest.length === 0
      )
        return undefined;
      return `${text}: expected one of ${FAILURE_TEMPLATE_FIELDS.map((f) => `failure.${f}`).join(', ')}`;
    case 'steps': {
      if (first === undefined) return `${text}: name a step, e.g. {{ steps.boot.outputs.host }}`;
      const step = main.get(first) ?? failure.get(first);
      if (step === undefined) return `${text}: there is no step "${first}"`;
      if (!visibleSteps.has(first))
        return `${text}: step "${first}" is not among this step's needs (directly or indirectly), so it may not have run`;
      const [kind, ...path] = rest;
      if (kind === 'status' && path.length === 0) return undefined;
      if (kind !== 'outputs') return `${text}: expected steps.${first}.outputs.NAME or steps.${first}.status`;
      const action = catalog.actions.get(step.action);
      return action === undefined ? undefined : checkOutputPath(action.outputs, path, text, step.action);
    }
    default:
      return `${text}: unknown root "${root}"; references start with event, rule, params, region, steps${inFailure ? ', failure' : ''}`;
  }
}

function checkOutputPath(
  schema: Record<string, unknown>,
  path: readonly string[],
  text: string,
  action: string,
): string | undefined {
  let node = schema;
  for (const segment of path) {
    const properties = node['properties'] as Record<string, Record<string, unknown>> | undefined;
    if (properties === undefined) return undefined; // free-form below here (e.g. an HTTP response body)
    const next = properties[segment];
    if (next === undefined)
      return `${text}: action "${action}" has no output "${segment}"; outputs: ${Object.keys(properties).join(', ')}`;
    node = next;
  }
  return undefined;
}
