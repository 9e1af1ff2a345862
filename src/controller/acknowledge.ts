/**
 * Step 8, the page: the event's page is acknowledged before anything is done about it. When it
 * cannot be, nothing is done: the draft becomes an escalation and its lock is let go. What each
 * pager error means for the decision is said here, and only here.
 */
import type { Logger } from 'pino';
import { LzError } from '../common/errors.js';
import type { LzEvent } from '../events/schema.js';
import { PagerErrorCodes } from '../pager/errors.js';
import { PAGE_TAKEN_TEXT } from '../records/decision.js';
import { standDown } from './draft.js';
import type { Draft } from './draft.js';
import type { Responder } from './responder.js';

/**
 * The draft with its page acknowledged (`page` set; unchanged when the event has no page or the
 * service only notifies), or turned into an escalation without its lock when the page could not be.
 * `fresh`: an earlier attempt acknowledged the page, which stopped PagerDuty's timer: nobody is
 * being paged, the race is over, and answering for it is this attempt's job, whatever the time.
 */
export async function acknowledgePage(
  responder: Responder,
  event: LzEvent,
  arrivalMs: number,
  draft: Draft,
  fresh: boolean,
  elog: Logger,
): Promise<Draft> {
  try {
    const page = await responder.acknowledge(event, arrivalMs, { fresh });
    return page === undefined ? draft : { ...draft, page };
  } catch (error) {
    elog.error(
      { err: error },
      'the page could not be acknowledged: standing back (PagerDuty pages the humans by its own timer)',
    );
    return notAcknowledged(draft, error);
  }
}

/** What a failed acknowledgement makes of the draft: an escalation, and why. */
export function notAcknowledged(draft: Draft, error: unknown): Draft {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof LzError ? error.code : undefined;
  const prefix = code === undefined ? '' : `${code}: `;
  // Nothing is down and nobody is paged: the page is over. Not acted on, and not touched.
  if (code === PagerErrorCodes.RESOLVED)
    return standDown(draft, { reason: 'page_resolved', error: `${prefix}${message}` });
  // Not a dependency that is down: the page is a person's already, and one actor is enough.
  const humans = code === PagerErrorCodes.TAKEN || code === PagerErrorCodes.ALREADY_ESCALATED;
  return standDown(draft, {
    reason: 'dependency_down',
    error: `the page could not be acknowledged, so nothing was done and the lock was released: ${prefix}${message}`,
    ...(humans ? { reasonText: PAGE_TAKEN_TEXT, pageTaken: true as const } : {}),
  });
}
