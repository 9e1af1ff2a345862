/**
 * `lazarus run-workflow NAME --event FILE [--config DIR] [--dry-run]`: runs one workflow by hand,
 * as an operator tries a change to an automation. `--dry-run` prints the plan (steps in order with
 * their inputs resolved from the event, the rule and the parameters; what only an earlier step can
 * tell is shown as the reference) and calls nothing. Without it the workflow runs here, against the
 * region's orchestrator, with paging and notifications recorded rather than sent (until the paging
 * module lands), and no lock or Redis: it is a manual run.
 */
import { ACTIONS } from '../actions/registry.js';
import { parseTemplate, lookup } from '../common/template.js';
import { loadConfig } from '../config/load.js';
import { readInput } from './input.js';
import { formatIssue } from '../config/source.js';
import type { CompiledConfig, CompiledWorkflow } from '../config/types.js';
import { defaultCatalog } from '../controller/catalog.js';
import { stepExecutor } from '../controller/step-executor.js';
import { parseEvent } from '../events/parse.js';
import type { LzEvent } from '../events/schema.js';
import { Matcher } from '../matching/matcher.js';
import { RecordingNotifier } from '../notify/recording-notifier.js';
import { RecordingPager } from '../pager/recording-pager.js';
import { newRun, runWorkflow, templateContext } from '../workflow/engine.js';
import { MemoryRunStore } from '../workflow/memory-store.js';
import type { RunState } from '../workflow/types.js';
import { table } from './format.js';

export async function runWorkflowCommand(
  dir: string,
  name: string,
  eventFile: string,
  dryRun: boolean,
  out: NodeJS.WritableStream,
): Promise<number> {
  const loaded = await loadConfig(dir, defaultCatalog());
  if (!loaded.ok) {
    for (const issue of loaded.issues) out.write(formatIssue(issue) + '\n');
    return 2;
  }
  const { config } = loaded;
  const workflow = config.workflows.get(name);
  if (workflow === undefined) {
    out.write(`no workflow "${name}"; workflows: ${[...config.workflows.keys()].sort().join(', ')}\n`);
    return 2;
  }
  const parsed = parseEvent(await readInput(eventFile), {
    maxBytes: config.region.events.maxBytes,
  });
  if (!parsed.ok) {
    out.write(`${eventFile}: rejected (${parsed.rejection.code}): ${parsed.rejection.message}\n`);
    return 2;
  }
  const run = runFor(config, workflow, parsed.event);
  if (dryRun) {
    out.write(
      `plan of ${workflow.name} for event ${parsed.event.id} (${parsed.event.service}/${parsed.event.host ?? parsed.event.resource ?? ''}), timeout ${run.deadline_at}:\n\n`,
    );
    out.write(plan(workflow, run) + '\n');
    return 0;
  }
  const pager = new RecordingPager();
  const notifier = new RecordingNotifier();
  const store = new MemoryRunStore();
  await store.create(run);
  const done = await runWorkflow(run, {
    workflow,
    store,
    node: 'manual',
    concurrency: config.region.workflows.stepConcurrency,
    execute: stepExecutor(ACTIONS, { pager, notifier, execDir: config.region.workflows.execDir }),
    onStep: (_run, step) =>
      out.write(
        `${step.status.padEnd(9)} ${step.id}${step.duration_ms === undefined ? '' : ` (${step.duration_ms} ms)`}${step.error === undefined ? '' : `: ${step.error}`}\n`,
      ),
  });
  out.write(
    `\nrun ${done.status}${done.failure === undefined ? '' : ` at ${done.failure.step} (${done.failure.reason}): ${done.failure.message}`}\n`,
  );
  for (const call of pager.calls()) out.write(`pager (recorded, not sent): ${JSON.stringify(call)}\n`);
  for (const message of notifier.messages())
    out.write(`notification (recorded, not sent): ${JSON.stringify(message)}\n`);
  return done.status === 'succeeded' ? 0 : 1;
}

/** The run an `act` decision would start for this event: its rule's inputs, its service's parameters. */
function runFor(config: CompiledConfig, workflow: CompiledWorkflow, event: LzEvent): RunState {
  const rule = new Matcher(config.services).match(event);
  const service = config.services.get(event.service);
  return newRun(
    {
      id: `manual:${event.id}`,
      workflow: workflow.name,
      event: { ...event },
      rule:
        rule !== undefined && rule.action.workflow === workflow.name
          ? { id: rule.id, name: rule.name, inputs: rule.action.inputs }
          : { id: '(manual)', name: '(manual)', inputs: {} },
      params: Object.fromEntries(
        Object.entries(service?.parameters.values ?? {}).map(([k, v]) => [k, v.value]),
      ),
      region: { name: config.region.region, orchestrator_url: config.region.orchestrator?.url ?? '' },
      timeoutMs: service?.parameters.workflowTimeoutMs ?? 30 * 60_000,
    },
    workflow,
  );
}

function plan(workflow: CompiledWorkflow, run: RunState): string {
  const context = templateContext(run);
  const rows = [['#', 'STEP', 'ACTION', 'NEEDS', 'WHEN', 'INPUTS']];
  const describe = (list: readonly (typeof workflow.steps)[number][], prefix: string): void =>
    list.forEach((s, i) => {
      rows.push([
        `${prefix}${i + 1}`,
        s.id,
        s.action,
        s.needs.join(',') || '-',
        s.when === undefined ? '-' : s.when,
        JSON.stringify(resolvePartially(s.inputs, context)),
      ]);
    });
  describe(workflow.steps, '');
  describe(workflow.onFailure, 'on failure ');
  return table(rows);
}

/** Renders what is known before the run; references to steps' outputs or the failure stay as written. */
function resolvePartially(value: unknown, context: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    const parts = parseTemplate(value);
    const later = (ref: readonly string[]) => ref[0] === 'steps' || ref[0] === 'failure';
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only !== undefined && 'ref' in only && !later(only.ref)) return lookup(context, only.ref);
    return parts
      .map((p) => {
        if (!('ref' in p)) return p.text;
        if (later(p.ref)) return `{{ ${p.ref.join('.')} }}`;
        const v = lookup(context, p.ref);
        return typeof v === 'string' ? v : JSON.stringify(v);
      })
      .join('');
  }
  if (Array.isArray(value)) return value.map((v) => resolvePartially(v, context));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolvePartially(v, context)]));
  return value;
}
