/**
 * A notification channel: where a message goes (`slack:#channel`, `email:address`, `pagerduty`, as
 * the profile parameter `notification_channels` writes them) and the adapter that delivers it.
 */
import { CHANNEL_PATTERN } from '../config/parameters.js';

export type ChannelKind = 'slack' | 'email' | 'pagerduty';

export type ChannelAddress =
  /** `channel` always starts with `#`, whether or not the profile wrote it. */
  | { readonly kind: 'slack'; readonly channel: string; readonly raw: string }
  | { readonly kind: 'email'; readonly address: string; readonly raw: string }
  | { readonly kind: 'pagerduty'; readonly raw: string };

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

const PATTERN = new RegExp(CHANNEL_PATTERN);

/** Reads a channel string; `undefined` when it does not follow `CHANNEL_PATTERN`. */
export function parseChannel(raw: string): ChannelAddress | undefined {
  const text = raw.trim();
  if (!PATTERN.test(text)) return undefined;
  if (text === 'pagerduty') return { kind: 'pagerduty', raw: text };
  if (text.startsWith('slack:')) {
    const name = text.slice('slack:'.length);
    return { kind: 'slack', channel: name.startsWith('#') ? name : `#${name}`, raw: text };
  }
  return { kind: 'email', address: text.slice('email:'.length), raw: text };
}

/** `slack:sms-oncall` and `slack:#sms-oncall` are one channel: the canonical string, for de-duplication. */
export function channelKey(address: ChannelAddress): string {
  switch (address.kind) {
    case 'slack':
      return `slack:${address.channel}`;
    case 'email':
      return `email:${address.address.toLowerCase()}`;
    case 'pagerduty':
      return 'pagerduty';
  }
}

/** The headline of a message: its first non-empty line, cut to `max` characters. */
export function headline(text: string, max = 120): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line.trim();
}
