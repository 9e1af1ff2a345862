/**
 * PagerDuty as a notification channel: the message becomes a note on the event's incident, so that
 * whoever is paged reads it where they already are. It needs the event's incident key; a message
 * without one (a workflow's `notify` outside an event) has nowhere to go on this channel.
 */
import type { PagerPort } from '../pager/port.js';
import type { Channel, OutgoingMessage } from './channel.js';
import { NotifyError, NotifyErrorCodes } from './errors.js';
import { LzError } from '../common/errors.js';

export class PagerDutyNoteChannel implements Channel {
  readonly kind = 'pagerduty' as const;

  /** @param pager - the pager that workflows use (its calls have a budget of their own) */
  constructor(private readonly pager: PagerPort) {}

  /** @param target - the incident key */
  async deliver(target: string, message: OutgoingMessage, signal: AbortSignal): Promise<void> {
    try {
      await this.pager.note(target, message.text, signal);
    } catch (error) {
      // The pager already retried within its budget; it says whether more can help.
      throw new NotifyError(
        NotifyErrorCodes.DELIVERY_FAILED,
        `pagerduty note on ${target}: ${error instanceof Error ? error.message : String(error)}`,
        { retryable: error instanceof LzError ? error.retryable : true, cause: error },
      );
    }
  }
}
