/**
 * Profiles and the services that opt into them. Profile expansion gives every subscribed service
 * its compiled rule set, each value resolved in this order: the service's override, the profile's
 * default, the rule's own `default` (check thresholds only), the built-in default. Each resolved
 * value remembers which of these it came from.
 */
import { parseDuration } from '../common/duration.js';
import { PARAMETERS, PARAMETERS_SCHEMA } from './parameters.js';
import { PROFILE_SCHEMA, SERVICES_SCHEMA } from './schemas.js';
import { ajv, checkSchema } from './schema-check.js';
import type { Catalog } from './catalog.js';
import type { LoadedRule } from './rules.js';
import type { ConfigIssue, YamlSource } from './source.js';
import type {
  CompiledCheck,
  CompiledRule,
  CompiledService,
  RawProfile,
  RawServices,
  Resolved,
  ServiceParameters,
} from './types.js';

const validateProfile = ajv.compile(PROFILE_SCHEMA);
const validateServices = ajv.compile(SERVICES_SCHEMA);
const validateParameters = ajv.compile(PARAMETERS_SCHEMA);

export interface LoadedProfile {
  readonly profile: RawProfile;
  readonly source: YamlSource;
}

export function loadProfile(
  source: YamlSource,
  ruleNames: ReadonlySet<string>,
  issues: ConfigIssue[],
): LoadedProfile | undefined {
  if (!checkSchema(validateProfile, source.value, source, issues)) return undefined;
  const profile = source.value as RawProfile;
  const before = issues.length;
  profile.rules.forEach((name, i) => {
    if (!ruleNames.has(name))
      issues.push(
        source.issue(['rules', i], `unknown rule "${name}"; rules: ${[...ruleNames].sort().join(', ')}`),
      );
  });
  return issues.length > before ? undefined : { profile, source };
}

export function compileServices(
  source: YamlSource,
  profiles: ReadonlyMap<string, LoadedProfile>,
  profileNames: ReadonlySet<string>,
  rules: ReadonlyMap<string, LoadedRule>,
  catalog: Catalog,
  issues: ConfigIssue[],
): Map<string, CompiledService> {
  const out = new Map<string, CompiledService>();
  if (!checkSchema(validateServices, source.value, source, issues)) return out;
  const raw = source.value as RawServices;

  for (const [name, entry] of Object.entries(raw.services)) {
    const at = ['services', name];
    const before = issues.length;
    if (!profileNames.has(entry.profile)) {
      issues.push(
        source.issue(
          [...at, 'profile'],
          `unknown profile "${entry.profile}"; profiles: ${[...profileNames].sort().join(', ')}`,
        ),
      );
    }
    checkSchema(validateParameters, entry.parameters ?? {}, source, issues, [...at, 'parameters']);
    const loaded = profiles.get(entry.profile);
    if (issues.length > before || loaded === undefined) continue;

    const overrides = entry.parameters ?? {};
    const defaults = loaded.profile.parameters ?? {};
    const values: Record<string, Resolved<unknown>> = {};
    for (const [param, spec] of Object.entries(PARAMETERS)) {
      if (param in overrides) values[param] = { value: overrides[param], source: 'service' };
      else if (param in defaults) values[param] = { value: defaults[param], source: 'profile' };
      else if (spec.builtin !== undefined) values[param] = { value: spec.builtin, source: 'builtin' };
    }

    const min = values['min_active_hosts']?.value;
    const max = values['max_active_hosts']?.value;
    if (typeof min === 'number' && typeof max === 'number' && min >= max) {
      const blame =
        values['min_active_hosts']?.source === 'service' || values['max_active_hosts']?.source === 'service'
          ? [...at, 'parameters']
          : at;
      issues.push(
        source.issue(
          blame,
          `min_active_hosts (${min}) must be below max_active_hosts (${max}) or no host could ever be replaced`,
        ),
      );
      continue;
    }

    const compiledRules: CompiledRule[] = [];
    for (const ruleName of loaded.profile.rules) {
      const rule = rules.get(ruleName);
      if (rule !== undefined) compiledRules.push(compileRule(name, rule, values, catalog));
    }
    out.set(name, {
      name,
      profile: entry.profile,
      ...(entry.team === undefined ? {} : { team: entry.team }),
      parameters: serviceParameters(values),
      rules: compiledRules,
    });
  }
  return out;
}

/**
 * The parameters of an event's service, or the built-in defaults for a service the configuration
 * does not have (its events escalate `no_rule`, but the windows they count in still need a size).
 * The one place a default is applied after the configuration is compiled.
 */
export function parametersOf(
  services: ReadonlyMap<string, CompiledService>,
  service: string,
): ServiceParameters {
  return services.get(service)?.parameters ?? BUILTIN_PARAMETERS;
}

const BUILTIN_PARAMETERS: ServiceParameters = serviceParameters(
  Object.fromEntries(
    Object.entries(PARAMETERS)
      .filter(([, spec]) => spec.builtin !== undefined)
      .map(([name, spec]) => [name, { value: spec.builtin, source: 'builtin' as const }]),
  ),
);

function serviceParameters(values: Record<string, Resolved<unknown>>): ServiceParameters {
  const get = (name: string): unknown => values[name]?.value;
  return {
    mode: get('mode') as ServiceParameters['mode'],
    workflowTimeoutMs: parseDuration(get('workflow_timeout') as string) ?? 0,
    rateLimitThreshold: get('rate_limit_threshold') as number,
    rateLimitWindowMs: parseDuration(get('rate_limit_window') as string) ?? 0,
    notificationChannels: get('notification_channels') as string[],
    reremediateAfterMs: parseDuration(get('reremediate_after') as string) ?? 0,
    values,
  };
}

/** The check every rule includes (see `src/checks/host-active.ts`). */
const HOST_ACTIVE = 'HostActive';

function compileRule(
  service: string,
  loaded: LoadedRule,
  values: Record<string, Resolved<unknown>>,
  catalog: Catalog,
): CompiledRule {
  const { rule } = loaded;
  const checks: CompiledCheck[] = (rule.checks ?? []).map((entry) => {
    const spec = catalog.checks.get(entry.checkName);
    const { checkName: _name, default: ruleDefault, ...options } = entry;
    let threshold: Resolved<unknown> | undefined;
    if (spec?.threshold !== undefined) {
      const fromParams = values[spec.threshold.parameter];
      threshold =
        fromParams ??
        (ruleDefault !== undefined
          ? { value: ruleDefault, source: 'rule' }
          : { value: spec.threshold.builtin, source: 'builtin' });
    }
    return { name: entry.checkName, ...(threshold === undefined ? {} : { threshold }), options };
  });
  // Every rule acts only on the host in trouble: one that does not say where HostActive goes gets it
  // first, so that a replaced host (in forensics, booting, out of the load balancer) is never acted on.
  if (catalog.checks.has(HOST_ACTIVE) && !checks.some((c) => c.name === HOST_ACTIVE))
    checks.unshift({ name: HOST_ACTIVE, options: {} });
  return {
    id: `${service}/${rule.name}`,
    name: rule.name,
    service,
    description: rule.description ?? '',
    criteriaText: loaded.criteriaText,
    criteria: loaded.criteria,
    checks,
    action: { workflow: rule.action.name, inputs: rule.action.inputs ?? {} },
    // A rule that says nothing locks the host: two remediations of one host are never wanted.
    lock: rule.lock ?? 'host',
    file: loaded.source.file,
  };
}
