import { DURATION_PATTERN, parseDuration } from '../common/duration.js';
import type { CheckDefinition, HealthProbe } from './definition.js';

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
  async run(context) {
    const timeoutMs =
      parseDuration(typeof context.options['timeout'] === 'string' ? context.options['timeout'] : '2s') ??
      2000;
    const attempts = Number(context.options['attempts'] ?? 1);
    const host = (await context.hosts()).find((h) => h.id === context.host);
    if (host === undefined) {
      return {
        pass: false,
        measured: 'host not in inventory',
        threshold: 'health check failing',
        detail: `${context.host ?? '(no host)'} is not a host of ${context.service} in the inventory, so its health cannot be verified`,
      };
    }
    // Every attempt must fail: one healthy answer means the host is up as seen from here.
    let last: HealthProbe | undefined;
    for (let i = 0; i < attempts; i++) {
      last = await context.probe(host, { timeoutMs, fresh: true });
      if (last.healthy) break;
    }
    const seen =
      last?.status === undefined ? `unreachable (${last?.error ?? 'no answer'})` : `status ${last.status}`;
    return {
      pass: last !== undefined && !last.healthy,
      measured: `${seen} from ${context.node.zone}${last?.from === undefined ? '' : ` (${last.from})`}`,
      threshold: 'not 2xx, or no answer',
      detail:
        last?.healthy === true
          ? `${host.id} answers healthy from ${context.node.zone}`
          : `${host.id} health check is ${seen} from ${context.node.zone}`,
    };
  },
};
