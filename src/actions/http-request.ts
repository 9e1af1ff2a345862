import type { ActionDefinition } from './definition.js';

/** An HTTP call with a JSON body: how the orchestrator (boot host, load balancer, forensics) is reached. */
export const httpRequest: ActionDefinition = {
  name: 'http.request',
  description: 'HTTP request with a JSON body; fails unless the status is one of expect_status.',
  inputs: {
    type: 'object',
    required: ['method', 'url'],
    additionalProperties: false,
    properties: {
      method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
      url: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: {},
      expect_status: { type: 'array', items: { type: 'integer' } },
      timeout: { type: 'string' },
    },
  },
  outputs: {
    type: 'object',
    properties: { status: { type: 'integer' }, headers: { type: 'object' }, body: {} },
  },
};
