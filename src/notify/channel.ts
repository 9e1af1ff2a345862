/**
 * A notification channel: where a message goes (`slack:#channel`, `email:address`, `pagerduty`, as
 * the profile parameter `notification_channels` writes them) and the adapter that delivers it.
 */
import type { ChannelKind } from '../config/channel-address.js';

export {
  channelKey,
  parseChannel,
  type ChannelAddress,
  type ChannelKind,
} from '../config/channel-address.js';

/** One message on its way to one channel. */
export interface OutgoingMessage {
  /** The full text; its first line is the headline (an email's subject). */
  readonly text: string;
  readonly service: string;
}

export interface Channel {
  readonly kind: ChannelKind;
  /**
   * Delivers one message to `target` (a webhook URL, an email address, an incident key). Resolves once
   * the receiver accepted it; rejects with a `NotifyError` whose `retryable` says whether to try again.
   */
  deliver(target: string, message: OutgoingMessage, signal: AbortSignal): Promise<void>;
}

/** The headline of a message: its first non-empty line, cut to `max` characters. */
export function headline(text: string, max = 120): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line.trim();
}
