/**
 * JSON Schema validation (ajv) of a YAML document, with each error turned into a `ConfigIssue`
 * that points at the offending line and says in plain words what was expected.
 */
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { DURATION_PATTERN } from '../common/duration.js';
import { pointerSegments } from './source.js';
import type { ConfigIssue, YamlSource } from './source.js';

/**
 * One ajv instance for the configuration: every error reported (`allErrors`), unknown keys are errors
 * (each schema says `additionalProperties: false`; `strict` makes ajv refuse a schema that forgets
 * a type), no coercion: `"2"` is not the integer 2. `verbose` keeps the offending value and schema
 * in each error, for the messages.
 */
export const ajv = new Ajv({
  allErrors: true,
  strict: true,
  useDefaults: false,
  coerceTypes: false,
  verbose: true,
});

const PATTERN_WORDS: Record<string, string> = {
  [DURATION_PATTERN]: 'a duration such as 500ms, 30s, 5m, 2h or 1h30m',
};

/** A message a person can act on, from one ajv error. */
export function describeAjvError(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((error.parentSchema?.['properties'] as object | undefined) ?? {});
      return (
        `unknown key "${String(p['additionalProperty'])}"` +
        (allowed.length > 0 ? `; expected one of: ${allowed.join(', ')}` : '')
      );
    }
    case 'required':
      return `missing required key "${String(p['missingProperty'])}"`;
    case 'type':
      return `must be ${String(p['type'])}, got ${describeValue(error.data)}`;
    case 'enum':
      return `must be one of: ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(error.data)}`;
    case 'pattern': {
      const words = PATTERN_WORDS[String(p['pattern'])];
      return words === undefined
        ? `must match ${String(p['pattern'])}; got ${describeValue(error.data)}`
        : `must be ${words}; got ${describeValue(error.data)}`;
    }
    case 'const':
      return `must be ${JSON.stringify(p['allowedValue'])}`;
    default:
      return error.message ?? error.keyword;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Validates `value` (found in `source` at `base`) and pushes every problem to `issues`.
 * Returns whether it is valid.
 */
export function checkSchema(
  validate: ValidateFunction,
  value: unknown,
  source: YamlSource,
  issues: ConfigIssue[],
  base: readonly (string | number)[] = [],
): boolean {
  if (validate(value)) return true;
  for (const error of validate.errors ?? []) {
    // ajv reports an `if`/`anyOf` wrapper beside the real errors; the real ones say it better.
    if (error.keyword === 'if' || error.keyword === 'anyOf' || error.keyword === 'oneOf') continue;
    const segments = [...base, ...pointerSegments(error.instancePath)];
    if (error.keyword === 'additionalProperties') {
      segments.push(String((error.params as Record<string, unknown>)['additionalProperty']));
      issues.push(source.issue(segments, describeAjvError(error), true));
    } else {
      issues.push(source.issue(segments, describeAjvError(error)));
    }
  }
  return false;
}
