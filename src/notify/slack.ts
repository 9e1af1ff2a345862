/**
 * Slack through an incoming webhook: a POST of `{ "text": ... }` to the channel's webhook URL. Slack
 * answers 200 `ok`; 4xx answers (`invalid_payload`, `channel_not_found`, `no_service`) will not get
 * better by trying again, while a 429 (with `Retry-After`), a 5xx or a network error may.
 */
import type { Channel, OutgoingMessage } from './channel.js';
import { NotifyError, NotifyErrorCodes } from './errors.js';

export class SlackChannel implements Channel {
  readonly kind = 'slack' as const;

  /** @param target - the webhook URL (the directory maps `#channel` to it) */
  async deliver(target: string, message: OutgoingMessage, signal: AbortSignal): Promise<void> {
    let response: Response;
    try {
      response = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ text: message.text }),
        signal,
      });
    } catch (error) {
      throw new NotifyError(
        NotifyErrorCodes.DELIVERY_FAILED,
        `slack webhook unreachable: ${describe(error)}`,
        {
          retryable: true,
          cause: error,
        },
      );
    }
    // Read (and so release) the body either way; Slack's error text is in it.
    const body = await response.text().catch(() => '');
    if (response.ok) return;
    const retryAfter = Number(response.headers.get('retry-after'));
    throw new NotifyError(
      NotifyErrorCodes.DELIVERY_FAILED,
      `slack webhook answered ${response.status}${body === '' ? '' : ` (${body.slice(0, 200)})`}`,
      {
        retryable: response.status === 429 || response.status === 408 || response.status >= 500,
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1_000 : undefined,
      },
    );
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici hides the socket error (ECONNREFUSED, ...) in `cause`.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
