/**
 * Every notification channel the configuration names must be deliverable by the region: a Slack
 * channel needs its incoming webhook in `notifications.slack_webhooks`, an email address needs
 * `notifications.smtp`, and `pagerduty` needs the `pagerduty` section. A channel that cannot be
 * delivered would only show up at 3 a.m. as a warning in a log while nobody is told; it is a load
 * error instead, at the line that names it.
 */
import { parseChannel } from './channel-address.js';
import type { LoadedProfile } from './services.js';
import type { ConfigIssue, YamlSource } from './source.js';
import type { CompiledRegion, RawServices } from './types.js';

export function checkChannels(
  region: CompiledRegion,
  regionSource: YamlSource,
  services: YamlSource | undefined,
  profiles: ReadonlyMap<string, LoadedProfile>,
  issues: ConfigIssue[],
): void {
  const check = (source: YamlSource, path: readonly (string | number)[], channel: unknown): void => {
    const why = undeliverable(region, channel);
    if (why !== undefined) issues.push(source.issue(path, why));
  };
  const list = (source: YamlSource, path: readonly (string | number)[], channels: unknown): void => {
    if (Array.isArray(channels)) channels.forEach((c, i) => check(source, [...path, i], c));
  };

  const notes = (regionSource.value as { notifications?: { teams?: unknown; fallback?: unknown } })
    .notifications;
  if (typeof notes?.teams === 'object' && notes.teams !== null) {
    for (const [team, channels] of Object.entries(notes.teams))
      list(regionSource, ['notifications', 'teams', team], channels);
  }
  list(regionSource, ['notifications', 'fallback'], notes?.fallback);
  for (const { profile, source } of profiles.values())
    list(source, ['parameters', 'notification_channels'], profile.parameters?.['notification_channels']);
  const raw = services?.value as RawServices | undefined;
  if (services !== undefined && typeof raw?.services === 'object') {
    for (const [name, entry] of Object.entries(raw.services))
      list(
        services,
        ['services', name, 'parameters', 'notification_channels'],
        entry.parameters?.['notification_channels'],
      );
  }
}

/** Why the region cannot deliver to `channel`; `undefined` when it can (or it is not a channel string). */
function undeliverable(region: CompiledRegion, channel: unknown): string | undefined {
  const address = typeof channel === 'string' ? parseChannel(channel) : undefined;
  switch (address?.kind) {
    case 'slack': {
      // Webhooks are named with or without their #, as channels are.
      const known = Object.keys(region.notifications.slackWebhooks).map((name) => {
        const webhook = parseChannel(`slack:${name}`);
        return webhook?.kind === 'slack' ? webhook.channel : name;
      });
      if (known.includes(address.channel)) return undefined;
      return (
        `Slack channel ${address.channel} has no incoming webhook in region.yaml notifications.slack_webhooks` +
        (known.length === 0 ? ' (none is configured)' : `; configured: ${known.sort().join(', ')}`)
      );
    }
    case 'email':
      return region.notifications.smtp === undefined
        ? `${address.raw} needs an SMTP server: region.yaml has no notifications.smtp`
        : undefined;
    case 'pagerduty':
      return region.pagerduty === undefined
        ? 'the pagerduty channel needs PagerDuty: region.yaml has no pagerduty section'
        : undefined;
    default:
      return undefined;
  }
}
