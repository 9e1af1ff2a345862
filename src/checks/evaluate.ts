/**
 * A node's vote: every check of the rule run by this node, each with its evidence. All checks run
 * (none is skipped when another fails) so that the record shows the whole picture.
 */
import type { CheckContext, CheckDefinition, CheckOutcome } from './definition.js';

export interface CheckToRun {
  readonly name: string;
  readonly threshold: unknown;
  readonly options: Readonly<Record<string, unknown>>;
}

export interface CheckResult extends CheckOutcome {
  readonly name: string;
}

export async function evaluateChecks(
  checks: readonly CheckToRun[],
  registry: ReadonlyMap<string, CheckDefinition>,
  contextFor: (check: CheckToRun) => CheckContext,
): Promise<{ pass: boolean; checks: CheckResult[] }> {
  const results = await Promise.all(
    checks.map(async (check): Promise<CheckResult> => {
      const definition = registry.get(check.name);
      if (definition === undefined) {
        return {
          name: check.name,
          pass: false,
          measured: 'unknown check',
          threshold: '',
          detail: `this node has no check named ${check.name}`,
        };
      }
      try {
        return { name: check.name, ...(await definition.run(contextFor(check))) };
      } catch (error) {
        // A check that cannot look (inventory down, bad answer) fails: no evidence, no action.
        return {
          name: check.name,
          pass: false,
          measured: 'error',
          threshold: '',
          detail: `check could not run: ${(error as Error).message}`,
        };
      }
    }),
  );
  // A rule without checks has nothing to verify; a vote for it still needs the node to answer.
  return { pass: results.every((r) => r.pass), checks: results };
}
