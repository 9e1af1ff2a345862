import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ChannelDirectory } from '../../../src/notify/channel-directory.js';
import { EmailChannel } from '../../../src/notify/email.js';
import { escalatedMessage } from '../../../src/notify/messages.js';
import { Notifier, type NotifierOptions } from '../../../src/notify/notifier.js';
import { PagerDutyNoteChannel } from '../../../src/notify/pagerduty-channel.js';
import { SlackChannel } from '../../../src/notify/slack.js';
import { PagerDutyPager } from '../../../src/pager/pagerduty-pager.js';
import { PagerDutySimulator } from '../../../src/sim/pagerduty.js';
import { MailReceiver, SlackReceiver, readMail } from '../../helpers/receivers.js';
import { waitFor } from '../../helpers/wait.js';

const never = (): AbortSignal => new AbortController().signal;

describe('Notifier with real receivers', () => {
  const slack = new SlackReceiver();
  const receiver = new MailReceiver();
  const mails = receiver.mails;
  let smtpPort = 0;
  let pd: PagerDutySimulator;
  let pager: PagerDutyPager;
  let email: EmailChannel;
  const logged: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = {
    info: (obj: object, msg: string) =>
      logged.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) =>
      logged.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj: object, msg: string) =>
      logged.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
  } as unknown as NotifierOptions['log'];

  const notifier = (overrides: Partial<NotifierOptions> = {}): Notifier =>
    new Notifier({
      directory: new ChannelDirectory({
        slackWebhooks: {
          '#sms-oncall': `${slack.url}/sms`,
          '#flaky': `${slack.url}/flaky`,
          '#gone': `${slack.url}/gone`,
          '#dead': 'http://127.0.0.1:1/dead',
        },
        groups: { 'sms-team': ['slack:#sms-oncall'] },
        services: {
          'sms-api': { channels: ['slack:#sms-oncall', 'email:sms-team@example.com', 'pagerduty'] },
          quiet: { team: 'sms-team' },
        },
      }),
      channels: { slack: new SlackChannel(), email, pagerduty: new PagerDutyNoteChannel(pager) },
      log,
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      ...overrides,
    });

  before(async () => {
    await slack.start();
    await receiver.start();
    smtpPort = receiver.port;
    email = new EmailChannel({
      host: '127.0.0.1',
      port: smtpPort,
      from: 'Lazarus <lazarus@example.com>',
      startTls: false,
    });
    pd = await PagerDutySimulator.start();
    pager = new PagerDutyPager({ token: 'sim-token', from: 'lazarus@example.com', baseUrl: pd.url });
  });
  beforeEach(() => {
    slack.posts.length = 0;
    slack.failures.clear();
    mails.length = 0;
    logged.length = 0;
  });
  after(async () => {
    email.close();
    pager.close();
    await pd.close();
    await receiver.close();
    await new Promise<void>((resolve) => slack.server.close(() => resolve()));
  });

  test("a service's channels: Slack, email and a PagerDuty note, with the message's content", async () => {
    const key = 'nagios/sms-api-3/host_down';
    pd.createIncident({ incidentKey: key, service: 'sms-api' });
    const text = escalatedMessage(
      { service: 'sms-api', host: 'sms-api-3', eventType: 'host_down', eventId: 'evt-1', incidentKey: key },
      {
        reason: 'checks_failed',
        evidence: {
          quorum: 2,
          votes: [
            {
              node: 'node-a',
              zone: 'local-1a',
              pass: false,
              checks: [
                {
                  name: 'MinActiveHosts',
                  pass: false,
                  measured: 'healthy_others=2',
                  threshold: '>= 4',
                  detail: 'too few would remain',
                },
              ],
            },
          ],
        },
      },
    );
    const n = notifier();
    const { sent } = await n.forEvent({ incidentKey: key }).send({ text, service: 'sms-api' }, never());
    assert.equal(sent, 3);
    await n.flush();

    assert.deepEqual(slack.posts, [{ path: '/sms', body: { text } }]);

    assert.equal(mails.length, 1);
    const mail = mails[0]!;
    assert.equal(mail.from, 'lazarus@example.com');
    assert.deepEqual(mail.to, ['sms-team@example.com']);
    const { headers, body } = readMail(mail.raw);
    assert.equal(
      headers.get('subject'),
      '[Lazarus] Escalated to on-call: Lazarus did not fix sms-api-3 (sms-api): host down',
    );
    assert.equal(headers.get('x-lazarus-service'), 'sms-api');
    assert.match(body, /Why: the safety checks before acting failed/);
    assert.match(body, /MinActiveHosts: measured healthy_others=2, needs >= 4/);
    assert.match(body, /Event evt-1 · incident key nagios\/sms-api-3\/host_down/);

    assert.deepEqual(
      pd.incident(key)?.notes.map((note) => note.content),
      [text],
    );
    // Records are written as deliveries settle, in whatever order the receivers answered.
    assert.deepEqual(
      n
        .deliveries()
        .map((d) => [d.channel, d.status, d.attempts])
        .sort(),
      [
        ['email:sms-team@example.com', 'delivered', 1],
        ['pagerduty', 'delivered', 1],
        ['slack:#sms-oncall', 'delivered', 1],
      ],
    );
  });

  test("a service without channels gets its team's", async () => {
    const n = notifier();
    assert.deepEqual(await n.send({ text: 'hello team', service: 'quiet' }, never()), { sent: 1 });
    await n.flush();
    assert.deepEqual(slack.posts, [{ path: '/sms', body: { text: 'hello team' } }]);
  });

  test('a failing channel is logged and retried in the background; send does not wait for it', async () => {
    slack.failures.set('/flaky', 2);
    const n = notifier();
    const started = Date.now();
    const { sent } = await n.send({ text: 'flaky', service: 'x', channels: ['slack:#flaky'] }, never());
    assert.equal(sent, 1);
    assert.ok(Date.now() - started < 100, 'send resolved at hand-over');
    assert.equal(slack.posts.length, 0, 'not delivered yet when send resolved');
    await n.flush();
    assert.deepEqual(slack.posts, [{ path: '/flaky', body: { text: 'flaky' } }]);
    assert.deepEqual(
      n.deliveries().map((d) => [d.status, d.attempts]),
      [['delivered', 3]],
    );
    assert.equal(logged.filter((l) => l.msg === 'notification delivery failed').length, 2);
  });

  test('a dead channel gives up after its attempts, and never blocks the other channels', async () => {
    const n = notifier({ maxAttempts: 3 });
    const started = Date.now();
    const { sent } = await n.send(
      { text: 'both', service: 'x', channels: ['slack:#dead', 'slack:#sms-oncall'] },
      never(),
    );
    assert.equal(sent, 2);
    assert.ok(Date.now() - started < 100);
    assert.deepEqual(n.deliveries(), [], 'nothing had settled when send resolved');
    await waitFor(
      'the working channel',
      () => Promise.resolve(slack.posts.length === 1 ? true : undefined),
      2_000,
      5,
    );
    await n.flush();
    const dead = n.deliveries().find((d) => d.channel === 'slack:#dead');
    assert.equal(dead?.status, 'failed');
    assert.equal(dead?.attempts, 3);
    assert.match(dead?.error ?? '', /unreachable/);
    assert.ok(logged.some((l) => l.level === 'error' && l.msg === 'notification not delivered'));
  });

  test('a permanent refusal (Slack 404) is not retried', async () => {
    const n = notifier();
    await n.send({ text: 'x', service: 'x', channels: ['slack:#gone'] }, never());
    await n.flush();
    assert.deepEqual(
      n.deliveries().map((d) => [d.status, d.attempts]),
      [['failed', 1]],
    );
  });

  test('skipped: no webhook, no incident key, no adapter, not a channel', async () => {
    const n = notifier({
      channels: { slack: new SlackChannel(), pagerduty: new PagerDutyNoteChannel(pager) },
    });
    const { sent } = await n.send(
      { text: 'x', service: 'x', channels: ['slack:#unknown', 'pagerduty', 'email:a@example.com', 'bogus'] },
      never(),
    );
    assert.equal(sent, 0);
    assert.deepEqual(
      n.deliveries().map((d) => [d.channel, d.status]),
      [
        ['slack:#unknown', 'skipped'],
        ['pagerduty', 'skipped'],
        ['email:a@example.com', 'skipped'],
      ],
    );
    assert.ok(logged.some((l) => l.msg === 'notification: bad recipient'));
  });

  test('close() stops the retries of a channel that is down', async () => {
    const n = notifier({ initialBackoffMs: 10_000, maxBackoffMs: 10_000 });
    await n.send({ text: 'x', service: 'x', channels: ['slack:#dead'] }, never());
    await waitFor('the first failure', () => Promise.resolve(logged.length > 0 ? true : undefined), 2_000, 5);
    const started = Date.now();
    await n.close();
    assert.ok(Date.now() - started < 1_000);
    assert.equal(n.deliveries()[0]?.status, 'failed');
  });

  test('an aborted caller is refused before the hand-over', async () => {
    const controller = new AbortController();
    controller.abort(new Error('step cancelled'));
    await assert.rejects(
      notifier().send({ text: 'x', service: 'sms-api' }, controller.signal),
      /step cancelled/,
    );
  });
});
