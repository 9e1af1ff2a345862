/**
 * Passes when the host the event is about is `active` in the inventory: the host in trouble, serving
 * (or meant to be). A host that has been taken out of the load balancer, is booting, or was moved to
 * forensics after a replacement is not the host in trouble any more, whatever a sensor still says of
 * it: remediating it would replace a replaced host. Every rule runs this check (the configuration
 * adds it first to a rule that does not list it), on every node.
 */
import type { CheckDefinition } from './definition.js';

export const hostActive: CheckDefinition = {
  name: 'HostActive',
  description:
    'The host the event is about is active in the inventory (not out of the load balancer, booting or in forensics).',
  options: {},
  async run(context) {
    if (context.host === undefined)
      return {
        pass: true,
        measured: 'no host',
        threshold: 'state=active',
        detail: `the event is about a resource of ${context.service}, not a host`,
      };
    const host = (await context.hosts()).find((h) => h.id === context.host);
    if (host === undefined)
      return {
        pass: false,
        measured: 'not in inventory',
        threshold: 'state=active',
        detail: `${context.host} is not a host of ${context.service} in the inventory: it may have been replaced already`,
      };
    return {
      pass: host.state === 'active',
      measured: `state=${host.state}`,
      threshold: 'state=active',
      detail:
        host.state === 'active'
          ? `${host.id} is active in the inventory`
          : `${host.id} is ${host.state.replace(/_/g, ' ')} in the inventory, not active: it is not the host in trouble (replaced, or being handled)`,
    };
  },
};
