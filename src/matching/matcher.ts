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

/** A rule's criteria, flattened for the hot path, and its position in its service's rule list. */
interface Candidate {
  readonly index: number;
  readonly environment: ReadonlySet<string> | undefined;
  readonly eventData: readonly (readonly [string, ReadonlySet<string>])[];
}

export class Matcher {
  /** Service name → its number. A small integer is stored in the hash table itself, not behind a pointer. */
  private readonly serviceIndex = new Map<string, number>();
  /** Service number → its rule set's type index. */
  private readonly typeIndexOf: ReadonlyMap<string, readonly Candidate[]>[] = [];
  /** Service number → where its compiled rules start in `rules`. */
  private readonly firstRule: Int32Array;
  /** Every service's compiled rules, one after the other. */
  private readonly rules: CompiledRule[] = [];
  private readonly services: ReadonlyMap<string, CompiledService>;

  constructor(services: ReadonlyMap<string, CompiledService>) {
    this.services = services;
    this.firstRule = new Int32Array(services.size);
    // Services of one profile share rule templates, and so criteria: one type index per distinct rule
    // set keeps what matching reads few and hot in the CPU cache, whatever the number of services.
    // Per service, the hot path touches only the name lookup; its compiled rules only on a match.
    const shared = new Map<string, Map<string, Candidate[]>>();
    for (const service of services.values()) {
      const key = service.rules.map((r) => `${r.name}\u0000${r.file}`).join('\u0001');
      let byType = shared.get(key);
      if (byType === undefined) {
        const index = new Map<string, Candidate[]>();
        service.rules.forEach((rule, i) => {
          const candidate: Candidate = {
            index: i,
            environment: rule.criteria.environment,
            eventData: [...rule.criteria.eventData],
          };
          for (const type of rule.criteria.eventType) {
            const list = index.get(type);
            if (list === undefined) index.set(type, [candidate]);
            else list.push(candidate);
          }
        });
        shared.set(key, (byType = index));
      }
      const n = this.typeIndexOf.length;
      this.serviceIndex.set(service.name, n);
      this.typeIndexOf.push(byType);
      this.firstRule[n] = this.rules.length;
      this.rules.push(...service.rules);
    }
  }

  /** The rule that applies to `event`, or `undefined` (the event escalates with reason `no_rule`). */
  match(event: LzEvent): CompiledRule | undefined {
    const n = this.serviceIndex.get(event.service);
    if (n === undefined) return undefined;
    const candidates = this.typeIndexOf[n]?.get(event.type);
    if (candidates === undefined) return undefined;
    for (const c of candidates) {
      if (c.environment !== undefined && !c.environment.has(event.environment)) continue;
      let ok = true;
      for (const [field, accepted] of c.eventData) {
        const actual = scalarText(event.data[field]);
        if (actual === undefined || !accepted.has(actual)) {
          ok = false;
          break;
        }
      }
      if (ok) return this.rules[(this.firstRule[n] ?? 0) + c.index];
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
    return {
      service: service.name,
      subscribed: true,
      profile: service.profile,
      considered,
      ...(matched === undefined ? {} : { matched }),
    };
  }
}

/** The first criterion of `rule` that `event` fails, or `undefined` when all hold. */
function firstMiss(rule: CompiledRule, event: LzEvent): CriterionMiss | undefined {
  const { criteria, criteriaText } = rule;
  if (!criteria.eventType.has(event.type)) {
    return { criterion: 'event_type', expected: criteriaText['event_type'] ?? '', actual: event.type };
  }
  if (criteria.environment !== undefined && !criteria.environment.has(event.environment)) {
    return {
      criterion: 'environment',
      expected: criteriaText['environment'] ?? '',
      actual: event.environment,
    };
  }
  for (const [field, accepted] of criteria.eventData) {
    const actual = scalarText(event.data[field]);
    if (actual === undefined || !accepted.has(actual)) {
      return {
        criterion: `event_data.${field}`,
        expected: criteriaText[`event_data.${field}`] ?? '',
        actual,
      };
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
