import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { channelKey, headline, parseChannel } from '../../../src/notify/channel.js';
import { ChannelDirectory } from '../../../src/notify/channel-directory.js';

describe('channels and the channel directory', () => {
  test('parses the channel strings of notification_channels', () => {
    assert.deepEqual(parseChannel('slack:#sms-oncall'), {
      kind: 'slack',
      channel: '#sms-oncall',
      raw: 'slack:#sms-oncall',
    });
    assert.deepEqual(parseChannel('slack:sms-oncall'), {
      kind: 'slack',
      channel: '#sms-oncall',
      raw: 'slack:sms-oncall',
    });
    assert.deepEqual(parseChannel('email:sms-team@example.com'), {
      kind: 'email',
      address: 'sms-team@example.com',
      raw: 'email:sms-team@example.com',
    });
    assert.deepEqual(parseChannel('pagerduty'), { kind: 'pagerduty', raw: 'pagerduty' });
    for (const bad of ['slack:', 'email:nobody', 'sms:+100', 'pagerduty:x', ''])
      assert.equal(parseChannel(bad), undefined, bad);
  });

  test('slack:x and slack:#x are one channel', () => {
    assert.equal(channelKey(parseChannel('slack:x')!), channelKey(parseChannel('slack:#x')!));
  });

  test('the headline is the first non-empty line, cut short', () => {
    assert.equal(headline('\nfirst line\nsecond'), 'first line');
    assert.equal(headline('x'.repeat(200), 10), `${'x'.repeat(9)}…`);
  });

  const directory = new ChannelDirectory({
    slackWebhooks: { '#sms-oncall': 'http://hooks/sms', 'search-oncall': 'http://hooks/search' },
    groups: {
      'sms-team': ['slack:#sms-team'],
      search: ['email:search@example.com'],
      dba: ['slack:#dba', 'pagerduty'],
    },
    services: {
      'sms-api': {
        channels: ['slack:#sms-oncall', 'email:sms-team@example.com', 'pagerduty'],
        team: 'sms-team',
      },
      search: { channels: [], team: 'search' },
      lonely: {},
    },
    fallback: ['slack:#ops'],
  });

  test('webhooks by channel, with or without #', () => {
    assert.equal(directory.slackWebhook('#search-oncall'), 'http://hooks/search');
    assert.equal(directory.slackWebhook('sms-oncall'), 'http://hooks/sms');
    assert.equal(directory.slackWebhook('#nobody'), undefined);
  });

  test("a service's own channels, else its team's defaults, else the fallback", () => {
    assert.deepEqual(directory.serviceChannels('sms-api'), [
      'slack:#sms-oncall',
      'email:sms-team@example.com',
      'pagerduty',
    ]);
    assert.deepEqual(directory.serviceChannels('search'), ['email:search@example.com']);
    assert.deepEqual(directory.serviceChannels('lonely'), ['slack:#ops']);
    assert.deepEqual(directory.serviceChannels('unknown'), ['slack:#ops']);
  });

  test('recipients: named channels plus a group, de-duplicated; bad names reported', () => {
    const { addresses, problems } = directory.recipients({
      service: 'sms-api',
      channels: ['slack:dba', 'not a channel'],
      group: 'dba',
    });
    assert.deepEqual(
      addresses.map((a) => a.raw),
      ['slack:dba', 'pagerduty'],
    );
    assert.deepEqual(problems, ['not a channel: "not a channel"']);
    const unknown = directory.recipients({ service: 'sms-api', group: 'nobody' });
    assert.deepEqual(unknown.problems, ['unknown group "nobody"']);
    assert.deepEqual(
      unknown.addresses.map((a) => a.raw),
      ['slack:#sms-oncall', 'email:sms-team@example.com', 'pagerduty'],
      "a group nobody defined: the service's channels are told instead of nobody",
    );
    assert.deepEqual(
      directory.recipients({ service: 'search' }).addresses.map((a) => a.raw),
      ['email:search@example.com'],
    );
  });
});
