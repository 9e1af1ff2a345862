import type { ActionDefinition } from './definition.js';

/** Polls a health-check URL until it answers healthy or the deadline passes. */
export const healthcheckWaitHealthy: ActionDefinition = {
  name: 'healthcheck.wait_healthy',
  description: "Poll a host's health check until it is healthy; fail at the deadline.",
  inputs: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string' },
      deadline: { type: 'string' },
      interval: { type: 'string' },
    },
  },
  outputs: {
    type: 'object',
    properties: {
      healthy: { type: 'boolean' },
      attempts: { type: 'integer' },
      elapsed_ms: { type: 'integer' },
    },
  },
};
