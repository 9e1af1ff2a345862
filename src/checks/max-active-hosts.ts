import type { CheckDefinition } from './definition.js';

/** Passes when the service has fewer hosts than the maximum, so that a replacement may be added. */
export const maxActiveHosts: CheckDefinition = {
  name: 'MaxActiveHosts',
  description: 'Hosts of the service are below the maximum (a replacement may be added).',
  threshold: { parameter: 'max_active_hosts', schema: { type: 'integer', minimum: 1 }, builtin: 100 },
  options: {},
  async run(context) {
    const max = Number(context.threshold);
    // Hosts in forensics are out of the service for good; everything else counts toward the size.
    const count = (await context.hosts()).filter((h) => h.state !== 'forensics').length;
    return {
      pass: count < max,
      measured: `hosts=${count}`,
      threshold: `< ${max}`,
      detail: `${context.service} has ${count} hosts; a replacement may be added while it has fewer than ${max}`,
    };
  },
};
