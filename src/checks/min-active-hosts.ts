import type { CheckDefinition } from './definition.js';

/** Passes when the service's healthy hosts, without the one in question, stay at or above the minimum. */
export const minActiveHosts: CheckDefinition = {
  name: 'MinActiveHosts',
  description: 'Healthy hosts of the service, minus this one, stay at or above the minimum.',
  threshold: { parameter: 'min_active_hosts', schema: { type: 'integer', minimum: 0 }, builtin: 2 },
  options: {},
};
