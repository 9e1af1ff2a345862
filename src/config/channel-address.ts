/**
 * A notification channel as the configuration writes it (`slack:#channel`, `email:address`,
 * `pagerduty`, in the profile parameter `notification_channels`): its syntax, read by the
 * configuration's checks and by the notifier alike.
 */
import { CHANNEL_PATTERN } from './parameters.js';

export type ChannelKind = 'slack' | 'email' | 'pagerduty';

export type ChannelAddress =
  /** `channel` always starts with `#`, whether or not the profile wrote it. */
  | { readonly kind: 'slack'; readonly channel: string; readonly raw: string }
  | { readonly kind: 'email'; readonly address: string; readonly raw: string }
  | { readonly kind: 'pagerduty'; readonly raw: string };

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
