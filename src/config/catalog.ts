/**
 * What the configuration may refer to beyond itself: the checks and the workflow actions that exist.
 * The config module does not import them (logic modules never import each other); the composition
 * root hands a `Catalog` built from the check and action registries to the loader.
 */

/** A precondition check as the configuration sees it. */
export interface CheckSpec {
  readonly name: string;
  readonly description: string;
  /**
   * The check's threshold, when it has one: the profile parameter that sets it, its JSON Schema, and
   * the value used when neither the service, the profile nor the rule's `default` sets it.
   */
  readonly threshold?: {
    readonly parameter: string;
    readonly schema: Record<string, unknown>;
    readonly builtin: unknown;
  };
  /** JSON Schemas of the other keys a rule may give this check (besides `checkName` and `default`). */
  readonly options: Readonly<Record<string, Record<string, unknown>>>;
}

/** A workflow action as the configuration sees it: its inputs and what it outputs. */
export interface ActionSpec {
  readonly name: string;
  readonly description: string;
  /** JSON Schema of the inputs (an object schema with `properties` and `required`). */
  readonly inputs: Record<string, unknown>;
  /**
   * JSON Schema of the outputs. Templates such as `{{ steps.boot.outputs.body.host }}` are checked
   * against it at load time; below a property without `properties` any path is accepted.
   */
  readonly outputs: Record<string, unknown>;
}

export interface Catalog {
  readonly checks: ReadonlyMap<string, CheckSpec>;
  readonly actions: ReadonlyMap<string, ActionSpec>;
}
