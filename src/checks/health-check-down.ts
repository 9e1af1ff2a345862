import { DURATION_PATTERN } from '../common/duration.js';
import type { CheckDefinition } from './definition.js';

/**
 * Passes when this node, from its own zone, finds the host's health check failing or unreachable.
 * Run on every node, it is the guard against network partitions: a host unreachable from one zone
 * only does not gather a quorum.
 */
export const healthCheckDown: CheckDefinition = {
  name: 'HealthCheckDown',
  description: "This node, from its own zone, finds the host's health check failing or unreachable.",
  options: {
    timeout: { type: 'string', pattern: DURATION_PATTERN },
    attempts: { type: 'integer', minimum: 1, maximum: 5 },
  },
};
