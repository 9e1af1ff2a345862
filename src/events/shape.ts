/**
 * Bounds on the shape of what a record holds, checked right after `JSON.parse` and before anything
 * else walks the value. The byte limit alone does not bound the work of the steps after it: 64 KiB
 * of `[[[[…` is 32,000 levels deep, and every recursive walk of it (the dedup fingerprint, the JSON
 * of the decision record, the peers' request) overflows the stack. So the value is walked here once,
 * without recursion, and refused at the first bound it passes, with the JSON pointer of the place.
 */
import { EventErrorCodes } from './errors.js';

export interface ShapeLimits {
  /** Levels of objects and arrays, the envelope itself being level 1 (`data` is level 2). */
  readonly maxDepth: number;
  /** Items in any one array. */
  readonly maxItems: number;
  /** Characters in any one string value or key. */
  readonly maxString: number;
  /** Keys in any one object. */
  readonly maxKeys: number;
  /** Keys and items in the whole document, at every depth together. */
  readonly maxNodes: number;
}

/**
 * Far beyond what any sensor sends (a Nagios alarm is flat; an Alertmanager alert's labels are a flat
 * map), far below what would hurt: every walk of an event stays small and shallow.
 */
export const SHAPE_LIMITS: ShapeLimits = Object.freeze({
  maxDepth: 10,
  maxItems: 256,
  maxString: 16_384,
  maxKeys: 64,
  maxNodes: 2_048,
});

export interface ShapeProblem {
  readonly code:
    | typeof EventErrorCodes.TOO_DEEP
    | typeof EventErrorCodes.TOO_MANY_ITEMS
    | typeof EventErrorCodes.STRING_TOO_LONG
    | typeof EventErrorCodes.TOO_MANY_KEYS;
  /** JSON pointer of the place (`/data/checks/3`). */
  readonly path: string;
  readonly message: string;
}

/** The first bound the value passes, or `undefined` when it keeps within all of them. */
export function checkShape(value: unknown, limits: ShapeLimits = SHAPE_LIMITS): ShapeProblem | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 1 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > limits.maxString)
        return problem(
          EventErrorCodes.STRING_TOO_LONG,
          path,
          `a string of ${v.length} characters; at most ${limits.maxString}`,
        );
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limits.maxDepth)
      return problem(EventErrorCodes.TOO_DEEP, path, `nested deeper than ${limits.maxDepth} levels`);
    if (Array.isArray(v)) {
      if (v.length > limits.maxItems)
        return problem(
          EventErrorCodes.TOO_MANY_ITEMS,
          path,
          `an array of ${v.length} items; at most ${limits.maxItems}`,
        );
      nodes += v.length;
      if (nodes > limits.maxNodes) return tooManyNodes(path, limits);
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ value: v[i], path: `${path}/${i}`, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(v);
    if (keys.length > limits.maxKeys)
      return problem(
        EventErrorCodes.TOO_MANY_KEYS,
        path,
        `an object of ${keys.length} keys; at most ${limits.maxKeys}`,
      );
    nodes += keys.length;
    if (nodes > limits.maxNodes) return tooManyNodes(path, limits);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const at = `${path}/${pointerToken(key)}`;
      if (key.length > limits.maxString)
        return problem(
          EventErrorCodes.STRING_TOO_LONG,
          at,
          `a key of ${key.length} characters; at most ${limits.maxString}`,
        );
      stack.push({ value: (v as Record<string, unknown>)[key], path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

function tooManyNodes(path: string, limits: ShapeLimits): ShapeProblem {
  return problem(
    EventErrorCodes.TOO_MANY_KEYS,
    path,
    `more than ${limits.maxNodes} keys and items in the whole event`,
  );
}

function problem(code: ShapeProblem['code'], path: string, message: string): ShapeProblem {
  return { code, path, message };
}

/** RFC 6901: `~` and `/` escaped; cut short so that a pointer never carries a huge key. */
function pointerToken(key: string): string {
  const escaped = key.replace(/~/g, '~0').replace(/\//g, '~1');
  return escaped.length > 64 ? `${escaped.slice(0, 64)}…` : escaped;
}
