/**
 * The small template language of workflow inputs and step conditions.
 *
 * - A string may hold references: `"{{ event.host }}"`, `"{{ region.orchestrator_url }}/v1/boot"`.
 *   A string that is exactly one reference renders to the referenced value with its type (a number
 *   stays a number); otherwise references are interpolated as text.
 * - A `when` condition is `REF`, `not REF`, `REF == VALUE` or `REF != VALUE`, where VALUE is a number,
 *   `true`, `false`, `null`, a quoted string or a bare word.
 *
 * Parsing is separate from rendering so that every reference can be checked when the configuration
 * loads, not discovered missing in the middle of a remediation.
 */

export type RefPath = readonly string[];

export type TemplatePart = { readonly text: string } | { readonly ref: RefPath };

const REF = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;

export class TemplateSyntaxError extends Error {}

/** The parts of a templated string; throws `TemplateSyntaxError` on `{{` without `}}` or a bad reference. */
export function parseTemplate(source: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open < 0) {
      parts.push({ text: source.slice(at) });
      break;
    }
    if (open > at) parts.push({ text: source.slice(at, open) });
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateSyntaxError(`"{{" at offset ${open} is never closed with "}}"`);
    const inner = source.slice(open + 2, close).trim();
    if (!REF.test(inner)) {
      throw new TemplateSyntaxError(`"{{ ${inner} }}" is not a reference such as {{ event.host }}`);
    }
    parts.push({ ref: inner.split('.') });
    at = close + 2;
  }
  return parts;
}

/** A reference found in a structure of inputs, with where it was found (`['body', 'host']`). */
export interface FoundRef {
  readonly at: readonly (string | number)[];
  readonly ref: RefPath;
}

/** Every reference inside `value` (strings at any depth). Syntax errors are reported through `onError`. */
export function findRefs(
  value: unknown,
  onError: (at: readonly (string | number)[], message: string) => void,
  at: readonly (string | number)[] = [],
): FoundRef[] {
  if (typeof value === 'string') {
    try {
      return parseTemplate(value)
        .filter((p): p is { ref: RefPath } => 'ref' in p)
        .map((p) => ({ at, ref: p.ref }));
    } catch (error) {
      onError(at, (error as Error).message);
      return [];
    }
  }
  if (Array.isArray(value)) return value.flatMap((item, i) => findRefs(item, onError, [...at, i]));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, item]) => findRefs(item, onError, [...at, k]));
  }
  return [];
}

/** Looks a reference up in a context; `undefined` when any segment is missing. */
export function lookup(context: unknown, ref: RefPath): unknown {
  let node: unknown = context;
  for (const segment of ref) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** Renders every templated string inside `value` against `context`. */
export function render(value: unknown, context: unknown): unknown {
  if (typeof value === 'string') {
    const parts = parseTemplate(value);
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only !== undefined && 'ref' in only) return lookup(context, only.ref);
    return parts.map((p) => ('ref' in p ? stringify(lookup(context, p.ref)) : p.text)).join('');
  }
  if (Array.isArray(value)) return value.map((item) => render(item, context));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, item]) => [k, render(item, context)]));
  }
  return value;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  // Numbers and booleans print as themselves in JSON; mappings and lists as JSON.
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// -------------------------------------------------------------------------------------------------
// Conditions

export interface Condition {
  readonly ref: RefPath;
  readonly negate: boolean;
  /** Absent: the condition is the truthiness of the reference. */
  readonly compare?: { readonly op: '==' | '!='; readonly value: string | number | boolean | null };
}

const CONDITION = /^\s*(not\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*(?:(==|!=)\s*(.+?))?\s*$/;

/** Parses a `when` condition; throws `TemplateSyntaxError` with what is accepted. */
export function parseCondition(source: string): Condition {
  const m = CONDITION.exec(source.replace(/^\s*\{\{\s*|\s*\}\}\s*$/g, ''));
  const refText = m?.[2];
  if (m === null || refText === undefined || !REF.test(refText)) {
    throw new TemplateSyntaxError(
      `"${source}" is not a condition; expected REF, not REF, REF == VALUE or REF != VALUE (REF such as steps.boot.outputs.status)`,
    );
  }
  const negate = m[1] !== undefined;
  const op = m[3] as '==' | '!=' | undefined;
  const valueText = m[4];
  if (op === undefined || valueText === undefined) return { ref: refText.split('.'), negate };
  if (negate) throw new TemplateSyntaxError(`"${source}": use != rather than not with a comparison`);
  return { ref: refText.split('.'), negate, compare: { op, value: literal(valueText) } };
}

function literal(text: string): string | number | boolean | null {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  if (/^-?[0-9]+(\.[0-9]+)?$/.test(text)) return Number(text);
  const quoted = /^(['"])(.*)\1$/.exec(text);
  return quoted?.[2] ?? text;
}

/** Evaluates a parsed condition against a context. Comparison is by value; `"200" == 200` is true. */
export function evaluateCondition(condition: Condition, context: unknown): boolean {
  const actual = lookup(context, condition.ref);
  if (condition.compare === undefined) return condition.negate ? !actual : Boolean(actual);
  const equal = String(actual) === String(condition.compare.value);
  return condition.compare.op === '==' ? equal : !equal;
}
