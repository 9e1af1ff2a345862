/**
 * Rule files (`rules/*.yaml`): templates that profiles bundle. A rule is checked against the check
 * catalog and the workflows here; it is compiled per service (with that service's parameters) in
 * `services.ts`.
 */
import type { ValidateFunction } from 'ajv';
import { RULE_SCHEMA } from './schemas.js';
import { ajv, checkSchema } from './schema-check.js';
import type { Catalog, CheckSpec } from './catalog.js';
import type { ConfigIssue, YamlSource } from './source.js';
import type { CompiledCriteria, RawRule } from './types.js';
import type { LoadedWorkflow } from './workflows.js';

const validateRule = ajv.compile(RULE_SCHEMA);

export interface LoadedRule {
  readonly rule: RawRule;
  readonly source: YamlSource;
  readonly criteria: CompiledCriteria;
  readonly criteriaText: Readonly<Record<string, string>>;
}

const checkValidators = new WeakMap<CheckSpec, ValidateFunction>();

/** ajv validator of one check entry in a rule: `checkName`, `default` when it has a threshold, its options. */
function checkEntryValidator(spec: CheckSpec): ValidateFunction {
  let validate = checkValidators.get(spec);
  if (validate === undefined) {
    validate = ajv.compile({
      type: 'object',
      required: ['checkName'],
      additionalProperties: false,
      properties: {
        checkName: { type: 'string' },
        ...(spec.threshold === undefined ? {} : { default: spec.threshold.schema }),
        ...spec.options,
      },
    });
    checkValidators.set(spec, validate);
  }
  return validate;
}

export function loadRule(
  source: YamlSource,
  catalog: Catalog,
  workflows: ReadonlyMap<string, LoadedWorkflow>,
  workflowNames: ReadonlySet<string>,
  issues: ConfigIssue[],
): LoadedRule | undefined {
  if (!checkSchema(validateRule, source.value, source, issues)) return undefined;
  const rule = source.value as RawRule;
  const before = issues.length;

  (rule.checks ?? []).forEach((entry, i) => {
    const spec = catalog.checks.get(entry.checkName);
    if (spec === undefined) {
      issues.push(
        source.issue(
          ['checks', i, 'checkName'],
          `unknown check "${entry.checkName}"; known checks: ${[...catalog.checks.keys()].sort().join(', ')}`,
        ),
      );
      return;
    }
    checkSchema(checkEntryValidator(spec), entry, source, issues, ['checks', i]);
  });
  const seen = new Set<string>();
  (rule.checks ?? []).forEach((entry, i) => {
    if (seen.has(entry.checkName))
      issues.push(source.issue(['checks', i, 'checkName'], `check "${entry.checkName}" is listed twice`));
    seen.add(entry.checkName);
  });

  const workflow = workflows.get(rule.action.name);
  if (!workflowNames.has(rule.action.name)) {
    issues.push(
      source.issue(
        ['action', 'name'],
        `unknown workflow "${rule.action.name}"; workflows: ${[...workflowNames].sort().join(', ')}`,
      ),
    );
  } else if (workflow !== undefined) {
    const given = rule.action.inputs ?? {};
    for (const ref of workflow.ruleInputRefs) {
      if (!(ref.key in given)) {
        const at = workflow.source.position(ref.at);
        issues.push(
          source.issue(
            rule.action.inputs === undefined ? ['action'] : ['action', 'inputs'],
            `workflow "${workflow.workflow.name}" uses {{ rule.inputs.${ref.key} }} (${workflow.source.file}:${at.line}:${at.col}) but this rule gives no input "${ref.key}"`,
          ),
        );
      }
    }
  }
  if (issues.length > before) return undefined;

  const c = rule.criteria;
  const criteriaText: Record<string, string> = { event_type: c.event_type };
  if (c.environment !== undefined) criteriaText['environment'] = c.environment;
  for (const [field, value] of Object.entries(c.event_data ?? {}))
    criteriaText[`event_data.${field}`] = String(value);
  return {
    rule,
    source,
    criteriaText,
    criteria: {
      ...(c.environment === undefined ? {} : { environment: alternativesOf(c.environment) }),
      eventType: alternativesOf(c.event_type),
      eventData: new Map(
        Object.entries(c.event_data ?? {}).map(([field, value]) => [field, alternativesOf(String(value))]),
      ),
    },
  };
}

/** `dev|stage|prod` → {dev, stage, prod}. Values are exact (no trimming, no patterns). */
export function alternativesOf(text: string): ReadonlySet<string> {
  return new Set(text.split('|'));
}
