/**
 * A workflow action. Each action lives in a file of its own and is listed in `registry.ts`, with
 * JSON Schemas of its inputs and outputs: the configuration loader checks workflow steps and their
 * templates against them. How an action runs comes with the workflow engine.
 */
import type { ActionSpec } from '../config/catalog.js';

export type ActionDefinition = ActionSpec;

export const noOutputs = { type: 'object', properties: {} } as const;
