import type { ActionDefinition } from './definition.js';
import { callPort } from './port-call.js';

/**
 * The PagerDuty actions, by incident key. They share one file because they are one API with four
 * verbs; each is still its own registry entry.
 */
const incident = {
  type: 'object',
  properties: { incident_id: { type: 'string' }, status: { type: 'string' } },
} as const;

export const pagerdutyAcknowledge: ActionDefinition = {
  name: 'pagerduty.acknowledge',
  description: 'Acknowledge the page of the event (by its incident key).',
  inputs: {
    type: 'object',
    required: ['incident_key'],
    additionalProperties: false,
    properties: { incident_key: { type: 'string' } },
  },
  outputs: incident,
  run: (inputs, context) =>
    callPort('pagerduty.acknowledge', context.signal, () =>
      context.pager.acknowledge(inputs.incident_key as string, context.signal),
    ),
};

export const pagerdutyResolve: ActionDefinition = {
  name: 'pagerduty.resolve',
  description: 'Resolve the page of the event.',
  inputs: {
    type: 'object',
    required: ['incident_key'],
    additionalProperties: false,
    properties: { incident_key: { type: 'string' }, note: { type: 'string' } },
  },
  outputs: incident,
  run: (inputs, context) =>
    callPort('pagerduty.resolve', context.signal, () =>
      context.pager.resolve(inputs.incident_key as string, inputs.note as string | undefined, context.signal),
    ),
};

export const pagerdutyEscalate: ActionDefinition = {
  name: 'pagerduty.escalate',
  description: 'Escalate the page to the next level of its escalation policy (the humans).',
  inputs: {
    type: 'object',
    required: ['incident_key', 'reason'],
    additionalProperties: false,
    properties: { incident_key: { type: 'string' }, reason: { type: 'string' } },
  },
  outputs: {
    type: 'object',
    properties: { incident_id: { type: 'string' }, escalation_level: { type: 'integer' } },
  },
  run: (inputs, context) =>
    callPort('pagerduty.escalate', context.signal, () =>
      context.pager.escalate(inputs.incident_key as string, inputs.reason as string, context.signal),
    ),
};

export const pagerdutyNote: ActionDefinition = {
  name: 'pagerduty.note',
  description: 'Add a note to the page.',
  inputs: {
    type: 'object',
    required: ['incident_key', 'content'],
    additionalProperties: false,
    properties: { incident_key: { type: 'string' }, content: { type: 'string' } },
  },
  outputs: { type: 'object', properties: { note_id: { type: 'string' } } },
  run: (inputs, context) =>
    callPort('pagerduty.note', context.signal, () =>
      context.pager.note(inputs.incident_key as string, inputs.content as string, context.signal),
    ),
};
