import { noOutputs } from './definition.js';
import type { ActionDefinition } from './definition.js';

/** Waits for a duration (a settling time between two steps). */
export const wait: ActionDefinition = {
  name: 'wait',
  description: 'Wait for a duration.',
  inputs: {
    type: 'object',
    required: ['duration'],
    additionalProperties: false,
    properties: { duration: { type: 'string' } },
  },
  outputs: noOutputs,
};
