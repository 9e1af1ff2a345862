import { sleep } from './abort.js';
import { noOutputs } from './definition.js';
import type { ActionDefinition } from './definition.js';
import { durationInput } from './duration-input.js';

const ACTION = 'wait';

/** Waits for a duration (a settling time between two steps). */
export const wait: ActionDefinition = {
  name: ACTION,
  description: 'Wait for a duration.',
  inputs: {
    type: 'object',
    required: ['duration'],
    additionalProperties: false,
    properties: { duration: { type: 'string' } },
  },
  outputs: noOutputs,
  async run(inputs, context) {
    const ms = durationInput(ACTION, inputs, 'duration', 0, { allowZero: true });
    await sleep(ACTION, ms, context.signal);
    return {};
  },
};
