import { activeOthers, probeAll } from './definition.js';
import type { CheckDefinition } from './definition.js';

/**
 * Passes when the service's healthy hosts, without the one in question, stay at or above the
 * minimum: taking the host out must not leave the service short of capacity.
 */
export const minActiveHosts: CheckDefinition = {
  name: 'MinActiveHosts',
  description: 'Healthy hosts of the service, minus this one, stay at or above the minimum.',
  threshold: { parameter: 'min_active_hosts', schema: { type: 'integer', minimum: 0 }, builtin: 2 },
  options: {},
  async run(context) {
    const min = Number(context.threshold);
    const others = activeOthers(await context.hosts(), context.host);
    const { healthy, unhealthy } = await probeAll(context, others);
    return {
      pass: healthy >= min,
      measured: `healthy_others=${healthy}`,
      threshold: `>= ${min}`,
      detail:
        `${healthy} of the ${others.length} other active hosts of ${context.service} are healthy from ${context.node.zone}` +
        (unhealthy.length > 0 ? ` (unhealthy: ${unhealthy.join(', ')})` : '') +
        `; at least ${min} must remain`,
    };
  },
};
