/**
 * Who hears about a service, and where a Slack channel's webhook is. A service's own
 * `notification_channels` (from its profile, or its override) come first; a service that has none
 * gets its team's default channels, then the region's fallback. A workflow's `notify` may name a
 * group (a team or any other list of channels) or channels of its own instead.
 */
import type { CompiledService } from '../config/types.js';
import { channelKey, parseChannel, type ChannelAddress } from './channel.js';

export interface ChannelDirectoryOptions {
  /** Slack channel (`#name`, or `name`) to its incoming-webhook URL: a webhook posts to one channel. */
  readonly slackWebhooks?: Readonly<Record<string, string>>;
  /** Group or team name to its channels: a team's defaults, or a group a workflow's `notify` names. */
  readonly groups?: Readonly<Record<string, readonly string[]>>;
  /** Service to its channels and team (see `fromServices` to build it from the configuration). */
  readonly services?: Readonly<
    Record<string, { readonly channels?: readonly string[]; readonly team?: string }>
  >;
  /** Channels of a service with none of its own and no team defaults. @defaultValue `[]` */
  readonly fallback?: readonly string[];
}

export interface Recipients {
  /** Distinct, valid addresses, in the order they were named. */
  readonly addresses: readonly ChannelAddress[];
  /** Channel strings that are not channels, and groups nobody defined: for the log. */
  readonly problems: readonly string[];
}

export class ChannelDirectory {
  readonly #webhooks: ReadonlyMap<string, string>;
  readonly #groups: Readonly<Record<string, readonly string[]>>;
  readonly #services: NonNullable<ChannelDirectoryOptions['services']>;
  readonly #fallback: readonly string[];

  constructor(options: ChannelDirectoryOptions = {}) {
    this.#webhooks = new Map(
      Object.entries(options.slackWebhooks ?? {}).map(([name, url]) => [
        name.startsWith('#') ? name : `#${name}`,
        url,
      ]),
    );
    this.#groups = options.groups ?? {};
    this.#services = options.services ?? {};
    this.#fallback = options.fallback ?? [];
  }

  /** A directory from the compiled services: each one's `notification_channels` and team. */
  static fromServices(
    services: Iterable<CompiledService>,
    options: Omit<ChannelDirectoryOptions, 'services'> = {},
  ): ChannelDirectory {
    const entries: Record<string, { channels: readonly string[]; team?: string }> = {};
    for (const s of services) {
      entries[s.name] = {
        channels: s.parameters.notificationChannels,
        ...(s.team === undefined ? {} : { team: s.team }),
      };
    }
    return new ChannelDirectory({ ...options, services: entries });
  }

  /** The incoming-webhook URL of a Slack channel (`#name` or `name`), if one is configured. */
  slackWebhook(channel: string): string | undefined {
    return this.#webhooks.get(channel.startsWith('#') ? channel : `#${channel}`);
  }

  /** A service's channels: its own, else its team's, else the fallback. */
  serviceChannels(service: string): readonly string[] {
    const entry = this.#services[service];
    if (entry?.channels !== undefined && entry.channels.length > 0) return entry.channels;
    const team = entry?.team === undefined ? undefined : this.#groups[entry.team];
    if (team !== undefined && team.length > 0) return team;
    return this.#fallback;
  }

  /**
   * Where a message goes: the channels it names, plus its group's; when it names neither, or only a
   * group nobody defined, the service's channels.
   */
  recipients(message: {
    readonly service: string;
    readonly group?: string;
    readonly channels?: readonly string[];
  }): Recipients {
    const problems: string[] = [];
    const named: string[] = [...(message.channels ?? [])];
    if (message.group !== undefined) {
      const group = this.#groups[message.group];
      if (group === undefined) problems.push(`unknown group "${message.group}"`);
      else named.push(...group);
    }
    if (message.channels === undefined && message.group === undefined) {
      named.push(...this.serviceChannels(message.service));
    } else if (named.length === 0) {
      // A group nobody defined (and no channel of its own): the service's people are told instead,
      // rather than nobody.
      named.push(...this.serviceChannels(message.service));
    }
    const seen = new Set<string>();
    const addresses: ChannelAddress[] = [];
    for (const raw of named) {
      const address = parseChannel(raw);
      if (address === undefined) {
        problems.push(`not a channel: ${JSON.stringify(raw)}`);
        continue;
      }
      const key = channelKey(address);
      if (seen.has(key)) continue;
      seen.add(key);
      addresses.push(address);
    }
    return { addresses, problems };
  }
}
