/** Every workflow action, by name. A new action: one file, one line here. */
import type { ActionDefinition } from './definition.js';
import { exec } from './exec.js';
import { healthcheckWaitHealthy } from './healthcheck-wait-healthy.js';
import { httpRequest } from './http-request.js';
import { notify } from './notify.js';
import { pagerdutyAcknowledge, pagerdutyEscalate, pagerdutyNote, pagerdutyResolve } from './pagerduty.js';
import { wait } from './wait.js';

export const ACTIONS: ReadonlyMap<string, ActionDefinition> = new Map(
  [
    httpRequest,
    healthcheckWaitHealthy,
    wait,
    exec,
    pagerdutyAcknowledge,
    pagerdutyResolve,
    pagerdutyEscalate,
    pagerdutyNote,
    notify,
  ].map((action) => [action.name, action]),
);
