import type { ActionDefinition } from './definition.js';

/** Sends a message to the service's notification channels (or to a named group). */
export const notify: ActionDefinition = {
  name: 'notify',
  description: "Send a message to the service's channels, or to the given group.",
  inputs: {
    type: 'object',
    required: ['message'],
    additionalProperties: false,
    properties: {
      message: { type: 'string' },
      group: { type: 'string' },
      channels: { type: 'array', items: { type: 'string' } },
    },
  },
  outputs: { type: 'object', properties: { sent: { type: 'integer' } } },
};
