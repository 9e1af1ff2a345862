/**
 * The writes of an escalation's audit trail, against a real redis-server and the PagerDuty
 * simulator through the real pager: the page's calls (escalation and evidence note) and the
 * "escalated" notification land in the decision record's update, in one round trip, when the page
 * was the service's one channel; when another channel is left to send to, the message goes there
 * and its entry follows on its own. Either way the trail reads the same story, in time order.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { AuditLog, readEntries } from '../../../src/audit/log.js';
import type { AuditEntry } from '../../../src/audit/log.js';
import type { CompiledConfig } from '../../../src/config/types.js';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import { Responder } from '../../../src/controller/responder.js';
import type { MessageSink } from '../../../src/controller/responder.js';
import { ChannelDirectory } from '../../../src/notify/channel-directory.js';
import type { NotifyMessage } from '../../../src/notify/notifier.js';
import { PagerDutyPager } from '../../../src/pager/pagerduty-pager.js';
import { PagerDutySimulator } from '../../../src/sim/pagerduty.js';
import { privateRedis } from '../../helpers/redis.js';
import { decisionRecord, freshKeys } from '../api/fixtures.js';

/** An AuditLog that counts its writes (the entries it was given, per call). */
class CountedAudit extends AuditLog {
  readonly writes: AuditEntry[][] = [];
  override async appendAll(eventId: string, entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length > 0) this.writes.push([...entries]);
    await super.appendAll(eventId, entries);
  }
}

describe('responder: an escalation and its trail', () => {
  const db = privateRedis();
  let pd: PagerDutySimulator;
  let pager: PagerDutyPager;
  const log = pino({ level: 'silent' });
  // The responder reads only the services' modes from the configuration: none here, all enforce.
  const config = { services: new Map() } as unknown as CompiledConfig;

  before(async () => {
    pd = await PagerDutySimulator.start({ requestsPerMinute: 0 });
    pager = new PagerDutyPager({ token: 'sim-token', from: 'lazarus@example.com', baseUrl: pd.url });
  });
  after(async () => {
    pager.close();
    await pd.close();
  });

  async function escalation(
    service: string,
    channels: readonly string[],
    breaker?: { claim: () => Promise<boolean>; key?: string; id?: string },
  ) {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys, 60_000);
    const audit = new CountedAudit(db.redis, keys, 60_000, log);
    const updates: AuditEntry[][] = [];
    const sent: NotifyMessage[] = [];
    const notifier: MessageSink = {
      send: (message) => {
        sent.push(message);
        return Promise.resolve({ sent: 1 });
      },
    };
    const responder = new Responder({
      config,
      pager,
      notifier,
      directory: new ChannelDirectory({
        slackWebhooks: { '#web': 'http://127.0.0.1:1/web' },
        services: { [service]: { channels } },
      }),
      audit,
      node: 'a',
      log,
      updateDecision: (record, entries) => {
        updates.push([...entries]);
        return store.update(record, entries);
      },
      ...(breaker === undefined
        ? {}
        : { claimBreakerNote: breaker.claim, releaseBreakerNote: () => Promise.resolve() }),
    });
    const id = breaker?.id ?? `e-${service}`;
    const key = breaker?.key ?? `nagios/${service}-1/host_down`;
    if (pd.incident(key) === undefined) pd.createIncident({ incidentKey: key, service });
    const base = decisionRecord({
      id,
      decidedAt: Date.now(),
      service,
      reason: breaker === undefined ? 'checks_failed' : 'breaker_open',
    });
    const record = { ...base, event: { ...base.event, incident_key: key } };
    assert.equal(await store.write(record), true);
    responder.afterDecision(record, undefined);
    await responder.flush();
    const incident = pd.incident(key);
    assert.ok(incident !== undefined);
    const trail = await readEntries(db.redis, keys, id);
    return { audit, updates, sent, trail, incident, stored: await store.get(id) };
  }

  const actions = (entries: readonly AuditEntry[]): string[] => entries.map((e) => `${e.kind}:${e.action}`);

  test('the page is the one channel: escalation, note and notification in the record update alone', async () => {
    const r = await escalation('sms-api', ['pagerduty']);
    assert.equal(r.incident.escalation_level, 2, 'escalated');
    assert.equal(r.incident.notes.length, 1, 'the evidence note is on the page');
    assert.equal(r.stored?.page?.action, 'escalate');
    assert.equal(r.stored?.page?.ok, true);
    assert.deepEqual(r.updates.map(actions), [['page:escalate', 'page:note', 'notify:escalated']]);
    assert.deepEqual(r.audit.writes, [], 'no write of its own after the update');
    assert.deepEqual(r.sent, [], 'nothing to send: the page has the message as its note');
    assert.deepEqual(actions(r.trail), ['page:escalate', 'page:note', 'notify:escalated']);
    assert.equal(r.trail[2]?.detail?.['as'], 'the evidence note');
    for (let i = 1; i < r.trail.length; i++)
      assert.ok(Date.parse(r.trail[i - 1]!.at) <= Date.parse(r.trail[i]!.at), JSON.stringify(r.trail));
  });

  test('another channel to send to: the message goes there, its entry after the update', async () => {
    const r = await escalation('web', ['pagerduty', 'slack:#web']);
    assert.equal(r.incident.notes.length, 1);
    assert.deepEqual(r.updates.map(actions), [['page:escalate', 'page:note']]);
    assert.deepEqual(
      r.sent.map((m) => m.channels),
      [['slack:#web']],
      'to Slack only: the page has it',
    );
    assert.deepEqual(r.audit.writes.map(actions), [['notify:escalated']]);
    assert.deepEqual(actions(r.trail), ['page:escalate', 'page:note', 'notify:escalated']);
  });
  test('a breaker storm: the page gets one summary note; later events say it has it; a claim Redis cannot answer notes nothing, and says so', async () => {
    const key = `nagios/storm-1/host_down`;
    let claimed = false;
    const claim = (): Promise<boolean> => {
      const first = !claimed;
      claimed = true;
      return Promise.resolve(first);
    };
    const first = await escalation('storm', ['pagerduty'], { claim, key, id: 'e-storm-1' });
    assert.equal(first.incident.notes.length, 1);
    assert.match(first.incident.notes[0]?.content ?? '', /circuit breaker is open/);
    assert.deepEqual(actions(first.trail), ['page:escalate', 'page:note', 'notify:escalated']);

    const second = await escalation('storm', ['pagerduty'], { claim, key, id: 'e-storm-2' });
    assert.equal(second.incident.notes.length, 1, 'no second note on the page');
    // Escalated by the first event already: the page is the humans' now, left as it is.
    assert.deepEqual(actions(second.trail), [
      'page:note_skipped',
      'page:not_escalated',
      'page:escalate',
      'notify:escalated',
    ]);
    const told = (t: readonly AuditEntry[]): AuditEntry | undefined => t.find((e) => e.kind === 'notify');
    assert.equal(told(second.trail)?.ok, true);
    assert.equal(told(second.trail)?.detail?.['as'], 'the breaker summary note the page has already');

    const broken = await escalation('storm', ['pagerduty'], {
      claim: () => Promise.reject(new Error('Redis did not answer')),
      key,
      id: 'e-storm-3',
    });
    assert.equal(broken.incident.notes.length, 1, 'no note per event when the claim cannot be read');
    assert.equal(broken.trail[0]?.action, 'note_skipped');
    assert.equal(broken.trail[0]?.ok, false);
    assert.equal(told(broken.trail)?.ok, false, 'the notification did not reach the page');
    assert.match(
      String(told(broken.trail)?.detail?.['as']),
      /^nothing: the breaker note could not be claimed/,
    );
  });
});
