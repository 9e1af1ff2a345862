import type { ActionDefinition } from './definition.js';
import { callPort } from './port-call.js';

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
  async run(inputs, context) {
    const group = inputs.group as string | undefined;
    const channels = inputs.channels as readonly string[] | undefined;
    const message = {
      text: inputs.message as string,
      service: context.service,
      ...(group === undefined ? {} : { group }),
      ...(channels === undefined ? {} : { channels }),
    };
    const { sent } = await callPort('notify', context.signal, () =>
      context.notifier.send(message, context.signal),
    );
    return { sent };
  },
};
