import type { CheckDefinition } from './definition.js';

/**
 * Passes when enough of the service's other hosts are healthy: the guard against downstream
 * failures, where every host of a service fails at once and replacing them would make it worse.
 */
export const peerCheck: CheckDefinition = {
  name: 'PeerCheck',
  description: "The service's other hosts are healthy (guards against downstream failures).",
  threshold: {
    parameter: 'peer_min_healthy_ratio',
    schema: { type: 'number', minimum: 0, maximum: 1 },
    builtin: 0.75,
  },
  options: {},
};
