import { activeOthers, probeAll } from './definition.js';
import type { CheckDefinition } from './definition.js';

/**
 * Passes when enough of the service's other hosts are healthy: the guard against downstream
 * failures, where every host of a service fails at once and replacing them would make it worse.
 * With no other host to compare with, it cannot tell and fails.
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
  async run(context) {
    const ratio = Number(context.threshold);
    const others = activeOthers(await context.hosts(), context.host);
    if (others.length === 0) {
      return {
        pass: false,
        measured: 'peers=0',
        threshold: `healthy ratio >= ${ratio}`,
        detail: `${context.service} has no other active host to compare with`,
      };
    }
    const { healthy, unhealthy } = await probeAll(context, others);
    const share = healthy / others.length;
    return {
      pass: share >= ratio,
      measured: `healthy_peers=${healthy}/${others.length} (${share.toFixed(2)})`,
      threshold: `>= ${ratio}`,
      detail:
        share >= ratio
          ? `${healthy} of ${others.length} peers are healthy: the failure is local to the host`
          : `only ${healthy} of ${others.length} peers are healthy (failing: ${unhealthy.join(', ')}): likely a downstream failure, no host should be replaced`,
    };
  },
};
