/**
 * A precondition check. Each check lives in a file of its own and is listed in `registry.ts`:
 * adding a check is one file and one line. What the configuration needs to know of a check (its
 * name, threshold parameter and options) is its `CheckSpec`; how it runs comes with the cluster core.
 */
import type { CheckSpec } from '../config/catalog.js';

export type CheckDefinition = CheckSpec;
