/**
 * Rule matching: which of a service's rules applies to an event.
 *
 * Indexed by service, then by event type, so that the cost of matching an event depends on the few
 * rules of its own service and type, never on how many services the region has. Within a service the
 * profile's order decides: the first rule whose criteria all hold is the one that applies.
 */
import type { CompiledRule, CompiledService } from '../config/types.js';
import type { LzEvent } from '../events/schema.js';

/** Why a rule did not match: the first criterion that failed, what it wanted and what it got. */
export interface CriterionMiss {
  readonly criterion: string;
  readonly expected: string;
  readonly actual: string | undefined;
}

export interface RuleVerdict {
  readonly rule: string;
  readonly file: string;
  readonly matched: boolean;
  readonly miss?: CriterionMiss;
}

export interface Explanation {
  readonly service: string;
  readonly subscribed: boolean;
  readonly profile?: string;
  /** Every rule of the service, in order, with its verdict. */
  readonly considered: readonly RuleVerdict[];
  readonly matched?: CompiledRule;
}

export class Matcher {
  private readonly byService = new Map<string, Map<string, CompiledRule[]>>();
  private readonly services: ReadonlyMap<string, CompiledService>;

  constructor(services: ReadonlyMap<string, CompiledService>) {
    this.services = services;
    for (const service of services.values()) {
      const byType = new Map<string, CompiledRule[]>();
      for (const rule of service.rules) {
        for (const type of rule.criteria.eventType) {
          let list = byType.get(type);
          if (list === undefined) byType.set(type, (list = []));
          list.push(rule);
        }
      }
      this.byService.set(service.name, byType);
    }
  }

  /** The rule that applies to `event`, or `undefined` (the event escalates with reason `no_rule`). */
  match(event: LzEvent): CompiledRule | undefined {
    const candidates = this.byService.get(event.service)?.get(event.type);
    if (candidates === undefined) return undefined;
    for (const rule of candidates) {
      if (firstMiss(rule, event) === undefined) return rule;
    }
    return undefined;
  }

  /** The slow path, for people: every rule of the service and why each matched or did not. */
  explain(event: LzEvent): Explanation {
    const service = this.services.get(event.service);
    if (service === undefined) return { service: event.service, subscribed: false, considered: [] };
    let matched: CompiledRule | undefined;
    const considered = service.rules.map((rule): RuleVerdict => {
      const miss = firstMiss(rule, event);
      if (miss === undefined) {
        matched ??= rule;
        return { rule: rule.name, file: rule.file, matched: true };
      }
      return { rule: rule.name, file: rule.file, matched: false, miss };
    });
    return { service: service.name, subscribed: true, profile: service.profile, considered, ...(matched === undefined ? {} : { matched }) };
  }
}

/** The first criterion of `rule` that `event` fails, or `undefined` when all hold. */
function firstMiss(rule: CompiledRule, event: LzEvent): CriterionMiss | undefined {
  const { criteria, criteriaText } = rule;
  if (!criteria.eventType.has(event.type)) {
    return { criterion: 'event_type', expected: criteriaText['event_type'] ?? '', actual: event.type };
  }
  if (criteria.environment !== undefined && !criteria.environment.has(event.environment)) {
    return { criterion: 'environment', expected: criteriaText['environment'] ?? '', actual: event.environment };
  }
  for (const [field, accepted] of criteria.eventData) {
    const actual = scalarText(event.data[field]);
    if (actual === undefined || !accepted.has(actual)) {
      return { criterion: `event_data.${field}`, expected: criteriaText[`event_data.${field}`] ?? '', actual };
    }
  }
  return undefined;
}

/** Criteria compare whole values as text; a list or a mapping never matches a criterion. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
