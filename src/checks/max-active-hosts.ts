import type { CheckDefinition } from './definition.js';

/** Passes when the service has fewer hosts than the maximum, so that a replacement may be added. */
export const maxActiveHosts: CheckDefinition = {
  name: 'MaxActiveHosts',
  description: 'Hosts of the service are below the maximum (a replacement may be added).',
  threshold: { parameter: 'max_active_hosts', schema: { type: 'integer', minimum: 1 }, builtin: 100 },
  options: {},
};
