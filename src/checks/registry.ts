/** Every precondition check, by name. A new check: one file, one line here. */
import type { CheckDefinition } from './definition.js';
import { healthCheckDown } from './health-check-down.js';
import { hostActive } from './host-active.js';
import { maxActiveHosts } from './max-active-hosts.js';
import { minActiveHosts } from './min-active-hosts.js';
import { peerCheck } from './peer-check.js';

export const CHECKS: ReadonlyMap<string, CheckDefinition> = new Map(
  [hostActive, minActiveHosts, maxActiveHosts, healthCheckDown, peerCheck].map((check) => [
    check.name,
    check,
  ]),
);
