import type { ProbeResult } from '../inventory/health-probe.js';
import { probeHealth } from '../inventory/health-probe.js';
import { raceAbort, sleep, throwIfAborted } from './abort.js';
import type { ActionContext, ActionDefinition } from './definition.js';
import { durationInput } from './duration-input.js';
import { ActionError, ActionErrorCodes } from './errors.js';

const ACTION = 'healthcheck.wait_healthy';

/** @defaultValue 10 min: a replacement host boots and warms up well within it */
const DEFAULT_DEADLINE_MS = 600_000;
/** @defaultValue 2 s */
const DEFAULT_INTERVAL_MS = 2_000;
/** A probe never waits longer than this for an answer, so that a hung host still gets polled. */
const MAX_PROBE_TIMEOUT_MS = 5_000;

/** Polls a health-check URL until it answers healthy or the deadline passes. */
export const healthcheckWaitHealthy: ActionDefinition = {
  name: ACTION,
  description: "Poll a host's health check until it is healthy; fail at the deadline.",
  inputs: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string' },
      deadline: { type: 'string' },
      interval: { type: 'string' },
    },
  },
  outputs: {
    type: 'object',
    properties: {
      healthy: { type: 'boolean' },
      attempts: { type: 'integer' },
      elapsed_ms: { type: 'integer' },
    },
  },
  run: runWaitHealthy,
};

async function runWaitHealthy(
  inputs: Readonly<Record<string, unknown>>,
  context: ActionContext,
): Promise<Record<string, unknown>> {
  const url = inputs.url as string;
  const deadlineMs = durationInput(ACTION, inputs, 'deadline', DEFAULT_DEADLINE_MS);
  const intervalMs = durationInput(ACTION, inputs, 'interval', DEFAULT_INTERVAL_MS);
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) {
    // Otherwise every probe would fail the same way and the step would wait out its whole deadline.
    throw new ActionError(ActionErrorCodes.BAD_INPUT, `${ACTION}: url ${JSON.stringify(url)} is not http(s)`);
  }
  // Not cut to the time left before the deadline: a last probe given 1 ms would only report its own
  // timeout instead of what the host answers. The deadline is overrun by one probe at most.
  const timeoutMs = Math.min(MAX_PROBE_TIMEOUT_MS, intervalMs);
  const from = context.sourceAddress === undefined ? {} : { localAddress: context.sourceAddress };
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  let attempts = 0;
  let last: ProbeResult | undefined;
  for (;;) {
    throwIfAborted(ACTION, context.signal);
    attempts += 1;
    // probeHealth takes no signal; racing it stops the step at once, and the probe ends on its own
    // within its timeout.
    last = await raceAbort(ACTION, context.signal, probeHealth(url, { timeoutMs, ...from }));
    if (last.healthy) return { healthy: true, attempts, elapsed_ms: elapsed() };
    const left = deadlineMs - elapsed();
    if (left <= 0) break;
    await sleep(ACTION, Math.min(intervalMs, left), context.signal);
  }
  const lastAnswer = last.status === undefined ? (last.error ?? 'no answer') : `status ${last.status}`;
  // Not retryable: the deadline is this step's retry budget, and an outer retry would only double it.
  throw new ActionError(
    ActionErrorCodes.FAILED,
    `${ACTION} ${url}: not healthy after ${attempts} attempts in ${elapsed()} ms (deadline ${deadlineMs} ms); last: ${lastAnswer}`,
    { retryable: false },
  );
}
