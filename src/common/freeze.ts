/**
 * Freezes a value and everything reachable from it (Maps are frozen as objects; their entries are
 * frozen but a Map's own contents cannot be frozen by the platform, so the compiled types only
 * ever hand out `ReadonlyMap`). A validated configuration must not change under a running node.
 */
export function deepFreeze<T>(value: T): T {
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, item] of v) {
        visit(k);
        visit(item);
      }
    } else if (v instanceof Set) {
      for (const item of v) visit(item);
    } else {
      for (const item of Object.values(v)) visit(item);
    }
    Object.freeze(v);
  };
  visit(value);
  return value;
}
