/**
 * The controller as PagerDuty's first responder, end to end: three node processes page through the
 * PagerDuty simulator (REST over HTTP) and notify through a local Slack webhook receiver and a local
 * SMTP server. The sensor's page is created in the simulator before the event is sent, as a sensor
 * does.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { AuditEntry } from '../../src/audit/log.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import type { SimIncident } from '../../src/sim/pagerduty.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import { MailReceiver, SlackReceiver, readMail } from '../helpers/receivers.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    team: messaging
    parameters:
      rate_limit_threshold: 10000
      notification_channels: ["slack:#sms-oncall", "email:sms-team@example.com"]
  onboard:
    profile: stateless
    parameters:
      mode: notify_only
      rate_limit_threshold: 10000
      notification_channels: ["slack:#onboard"]
`;

/** The acknowledgement must land within this after the event's time (short, so that the outage test is). */
const BUDGET_MS = 4000;

describe('PagerDuty first responder and notifications', { timeout: 300_000 }, () => {
  const slack = new SlackReceiver();
  const mail = new MailReceiver();
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    await slack.start();
    await mail.start();
    stack = await LocalStack.start({
      services: SERVICES,
      fleet: { services: { 'sms-api': 12, onboard: 4 } },
      region: {
        thresholds: { vote_timeout: '3s' },
        kinesis: { lease_ttl: '3s' },
        workflows: { lease_ttl: '3s' },
        pagerduty: { budget: `${BUDGET_MS}ms`, incident_grace: '1s' },
        notifications: {
          slack_webhooks: { '#sms-oncall': `${slack.url}/sms`, '#onboard': `${slack.url}/onboard` },
          smtp: { host: '127.0.0.1', port: mail.port, from: 'Lazarus <lazarus@example.com>' },
        },
      },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
    await slack.close();
    await mail.close();
  });

  function incident(key: string): SimIncident {
    const found = stack.pagerduty.incident(key);
    assert.ok(found !== undefined, `incident ${key}`);
    return found;
  }

  function logAt(i: SimIncident, action: string): number {
    const entry = i.log.find((e) => e.action === action);
    assert.ok(entry !== undefined, `${action} in the log of ${i.incident_key}: ${JSON.stringify(i.log)}`);
    return Date.parse(entry.at);
  }

  /** The Slack texts of `path` that contain `needle`, once there is one. */
  function slackSays(path: string, needle: string): Promise<string> {
    return waitFor(
      `a Slack message on ${path} saying "${needle}"`,
      () => Promise.resolve(slack.texts(path).find((t) => t.includes(needle))),
      20_000,
    );
  }

  async function traceOf(id: string): Promise<{ decision: DecisionRecord; audit: AuditEntry[] }> {
    const res = await fetch(`${stack.apiUrl('a')}/v1/events/${encodeURIComponent(id)}`);
    assert.equal(res.status, 200);
    return (await res.json()) as { decision: DecisionRecord; audit: AuditEntry[] };
  }

  test('host down: acknowledged before the first workflow step, resolved after the last; people told at each step', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const event = hostDown('sms-api', 'sms-api-2', { incident_key: 'PD-ack' });
    probe.page(event);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    assert.equal(d.page?.action, 'acknowledge');
    assert.equal(d.page?.ok, true);
    assert.ok(d.page.latency_ms >= 0 && d.page.latency_ms < BUDGET_MS, `ack latency ${d.page.latency_ms}`);

    const r = await probe.finished(`run-${event.id}`);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
    const i = incident('PD-ack');
    assert.equal(i.status, 'resolved');
    const acked = logAt(i, 'acknowledged');
    const firstStep = Math.min(...Object.values(r.steps).map((s) => Date.parse(s.started_at ?? '9999')));
    assert.ok(acked <= firstStep, `ack ${acked} before the first step ${firstStep}`);
    assert.ok(acked <= Date.parse(r.started_at), 'ack before the run started');
    const resolved = logAt(i, 'resolved');
    for (const id of ['lb_in', 'forensics']) {
      const end = Date.parse(r.steps[id]?.finished_at ?? '');
      assert.ok(resolved >= end, `resolved ${resolved} after ${id} ended ${end}`);
    }

    // Slack and email: acknowledged, started (with the plan), resolved.
    const ack = await slackSays('/sms', 'Lazarus acknowledged the page for sms-api-2 (sms-api)');
    assert.match(ack, /controller nodes found it safe to act/);
    const started = await slackSays('/sms', 'started remediating sms-api-2');
    assert.match(started, /1\. acknowledge \(pagerduty\.acknowledge\)/);
    assert.match(started, /boot \(http\.request\)/);
    await slackSays('/sms', 'Resolved: Lazarus remediated sms-api-2');
    // Acknowledged, started, the workflow's own announcement (its group is not defined here, so it
    // goes to the service's channels), resolved.
    const subjectsOf = (): string[] =>
      mail.mails
        .filter((m) => m.to.includes('sms-team@example.com') && m.raw.includes('sms-api-2'))
        .map((m) => readMail(m.raw).headers.get('subject') ?? '');
    const subjects = await waitFor(
      'the emails to the team, the resolution among them',
      () => {
        const all = subjectsOf();
        return Promise.resolve(all.some((s) => /^\[Lazarus\] Resolved/.test(s)) ? all : undefined);
      },
      20_000,
    );
    assert.ok(subjects.length >= 3, subjects.join(' | '));
    assert.ok(
      subjects.some((s) => /Replacing sms-api-2 of sms-api/.test(s)),
      subjects.join(' | '),
    );
    assert.ok(
      subjects.some((s) => /acknowledged the page/.test(s)),
      subjects.join(' | '),
    );
    assert.ok(
      subjects.some((s) => /^\[Lazarus\] Resolved/.test(s)),
      subjects.join(' | '),
    );

    // The trail: the page calls and the notifications are in the trace.
    const trace = await waitFor(
      'the resolved notification in the trace',
      async () => {
        const t = await traceOf(event.id);
        return t.audit.some((e) => e.kind === 'notify' && e.action === 'resolved') ? t : undefined;
      },
      10_000,
    );
    assert.ok(trace.audit.some((e) => e.kind === 'page' && e.action === 'acknowledge' && e.ok));
    assert.ok(trace.audit.some((e) => e.kind === 'notify' && e.action === 'acknowledged' && e.ok));
    // Each delivery's outcome too: three messages, each delivered to Slack and by email.
    const deliveries = await waitFor(
      'six deliveries in the trace',
      async () => {
        const d = (await traceOf(event.id)).audit.filter(
          (e) => e.kind === 'notify' && e.action === 'delivery',
        );
        return d.length >= 6 ? d : undefined;
      },
      10_000,
    );
    const delivered = (channel: string): number =>
      deliveries.filter(
        (e) => e.ok && e.detail?.['channel'] === channel && e.detail['status'] === 'delivered',
      ).length;
    assert.equal(delivered('slack:#sms-oncall'), 3, JSON.stringify(deliveries));
    assert.equal(delivered('email:sms-team@example.com'), 3, JSON.stringify(deliveries));
  });

  test('checks fail: the page goes to the next level, with a note that lists the failed checks', async () => {
    // sms-api-3 is healthy: HealthCheckDown fails on every node.
    const event = hostDown('sms-api', 'sms-api-3', { incident_key: 'PD-checks' });
    probe.page(event);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'checks_failed');
    const i = await waitFor(
      'the escalation and the evidence note',
      () => {
        const found = stack.pagerduty.incident('PD-checks');
        return Promise.resolve(
          found !== undefined &&
            found.escalation_level === 2 &&
            found.notes.some((n) => /Assisted diagnosis/.test(n.content))
            ? found
            : undefined,
        );
      },
      20_000,
    );
    assert.equal(i.status, 'triggered', 're-triggered at level 2 for the humans');
    const note = i.notes.find((n) => /Assisted diagnosis/.test(n.content))?.content ?? '';
    // The decision does not wait for a third vote once two have failed: two nodes' evidence at least.
    const voters = [...note.matchAll(/^([abc]) \(local-1\1\) voted fail:$/gm)].map((m) => m[1]);
    assert.ok(voters.length >= 2, note);
    assert.match(note, /FAIL HealthCheckDown: measured/);
    const record = await waitFor(
      'the escalation in the decision record',
      async () =>
        (await probe.decision(event.id))?.page !== undefined ? probe.decision(event.id) : undefined,
      10_000,
    );
    assert.equal(record?.page?.action, 'escalate');
    assert.equal(record?.page?.ok, true);
    assert.ok((record?.page?.latency_ms ?? -1) >= 0);
    const text = await slackSays('/sms', 'Escalated to on-call: Lazarus did not fix sms-api-3');
    assert.match(text, /Why: the precondition checks failed/);
    assert.match(text, /Failed checks:\n {2}- HealthCheckDown: measured/);
  });

  test('the workflow fails: the page is escalated once, and people are told at which step', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-4' });
    stack.fleet.inject({ kind: 'boot_fails', service: 'sms-api' });
    const event = hostDown('sms-api', 'sms-api-4', { incident_key: 'PD-fail' });
    probe.page(event);
    await probe.put(event);
    assert.equal((await probe.waitDecision(event.id)).decision, 'act');
    const r = await probe.finished(`run-${event.id}`);
    stack.fleet.clear();
    assert.equal(r.status, 'failed');
    const text = await slackSays('/sms', 'Escalated to on-call: Lazarus did not fix sms-api-4');
    assert.match(text, /failed at step "boot"/);
    const i = incident('PD-fail');
    assert.equal(i.escalation_level, 2, 'the workflow escalated it; the responder did not escalate again');
    assert.equal(i.log.filter((e) => e.action.startsWith('escalat')).length, 1, JSON.stringify(i.log));
  });

  test('PagerDuty answers 500 twice, then 200: still acknowledged within the budget', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-5' });
    const event = hostDown('sms-api', 'sms-api-5', { incident_key: 'PD-flaky' });
    probe.page(event);
    const id = incident('PD-flaky').id;
    const before = stack.pagerduty.calls().length;
    stack.pagerduty.failNext(2, 500);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    assert.equal(d.page?.ok, true);
    assert.ok(d.page.attempts >= 3, `attempts ${d.page.attempts}`);
    // The two 500s were this page's (nothing else was talking to PagerDuty), then the ack went through.
    const calls = stack.pagerduty.calls().slice(before);
    const failed = calls.filter((c) => c.status === 500);
    assert.equal(failed.length, 2, JSON.stringify(calls));
    for (const c of failed)
      assert.ok(
        c.query['incident_key'] === 'PD-flaky' || c.path.startsWith(`/incidents/${id}`),
        JSON.stringify(c),
      );
    assert.ok(calls.some((c) => c.method === 'PUT' && c.path === `/incidents/${id}` && c.status === 200));
    assert.ok(d.page.latency_ms < BUDGET_MS);
    const r = await probe.finished(`run-${event.id}`);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
  });

  test('PagerDuty unreachable past the budget: no workflow, dependency_down, the lock released', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-6' });
    const event = hostDown('sms-api', 'sms-api-6', { incident_key: 'PD-down' });
    probe.page(event);
    await stack.pagerduty.down();
    try {
      await probe.put(event);
      const d = await probe.waitDecision(event.id, 30_000);
      assert.equal(d.decision, 'escalate');
      assert.equal(d.reason, 'dependency_down');
      assert.match(d.error ?? '', /could not be acknowledged.*LZ_ERR_PAGER_UNAVAILABLE/);
      assert.equal(d.page_taken, undefined, 'PagerDuty down is not a person holding the page');
      assert.equal(d.lock, undefined);
      assert.ok(d.votes.filter((v) => v.pass).length >= 2, 'the checks had passed');
      // The escalation's message is sent after the decision, where a workflow would have started.
      await slackSays('/sms', 'Escalated to on-call: Lazarus did not fix sms-api-6');
      assert.equal(await probe.run(`run-${event.id}`), undefined, 'no workflow');
      assert.equal(await probe.redis.exists(probe.keys.lock('host:sms-api/sms-api-6')), 0, 'lock released');
      assert.notEqual(incident('PD-down').status, 'acknowledged');
    } finally {
      await stack.pagerduty.up();
    }
  });

  test('a person acknowledged the page first: no workflow, the page stays theirs, with the evidence', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-8' });
    const event = hostDown('sms-api', 'sms-api-8', { incident_key: 'PD-human' });
    probe.page(event);
    stack.pagerduty.acknowledgeAs('PD-human', 'alice@example.com');
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'dependency_down');
    assert.match(d.error ?? '', /LZ_ERR_PAGER_TAKEN.*acknowledged by alice\b/);
    assert.match(d.reason_text ?? '', /a person already has the page/);
    assert.equal(d.page_taken, true);
    assert.equal(d.lock, undefined);
    assert.ok(d.votes.filter((v) => v.pass).length >= 2, 'the checks had passed: only the page stopped it');
    await slackSays('/sms', 'a person already has the page');
    assert.equal(await probe.run(`run-${event.id}`), undefined, 'no workflow');
    assert.equal(await probe.redis.exists(probe.keys.lock('host:sms-api/sms-api-8')), 0, 'lock released');
    const i = incident('PD-human');
    assert.deepEqual(
      [i.status, i.escalation_level, i.acknowledgements.map((a) => a.from)],
      ['acknowledged', 1, ['alice@example.com']],
      'not acknowledged by the controller, not escalated away from her',
    );
    await waitFor(
      'the evidence note on her page',
      () => Promise.resolve(incident('PD-human').notes.find((n) => /Assisted diagnosis/.test(n.content))),
      10_000,
    );
  });

  test("the page escalated by PagerDuty's timer before the event arrives: not acknowledged, no workflow", async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-10' });
    const event = hostDown('sms-api', 'sms-api-10', { incident_key: 'PD-timer' });
    probe.page(event);
    stack.pagerduty.escalate('PD-timer');
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.match(d.error ?? '', /LZ_ERR_PAGER_ALREADY_ESCALATED.*the humans have it/);
    assert.ok(d.votes.filter((v) => v.pass).length >= 2, 'the checks had passed: only the page stopped it');
    assert.equal(await probe.run(`run-${event.id}`), undefined, 'no workflow');
    const i = incident('PD-timer');
    assert.deepEqual(
      [i.status, i.escalation_level, i.acknowledgements],
      ['triggered', 2, []],
      'still paging level 2',
    );
  });

  test('a resolved page: nothing acts and nothing is written to the page (page_resolved)', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-11' });
    const event = hostDown('sms-api', 'sms-api-11', { incident_key: 'PD-over' });
    probe.page(event);
    stack.pagerduty.resolveAs('PD-over', 'alice@example.com');
    const before = stack.pagerduty.calls().length;
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'page_resolved');
    assert.match(d.error ?? '', /LZ_ERR_PAGER_RESOLVED/);
    assert.equal(await probe.run(`run-${event.id}`), undefined, 'no workflow');
    await slackSays('/sms', 'sms-api-11');
    const i = incident('PD-over');
    assert.deepEqual([i.status, i.notes.length], ['resolved', 0], 'not reopened, not annotated');
    // Only this page's calls: an earlier test's evidence note may still be landing on its own page.
    const writes = stack.pagerduty
      .calls()
      .slice(before)
      .filter((c) => c.method !== 'GET' && c.path.startsWith(`/incidents/${i.id}`));
    assert.deepEqual(writes, [], 'no PUT or POST on the page');
    assert.ok(
      stack.pagerduty
        .calls()
        .slice(before)
        .some((c) => c.method === 'GET' && c.query['incident_key'] === 'PD-over'),
      'it was looked up',
    );
  });

  /**
   * What node d leaves when it dies between acknowledging the page and writing the decision (d, not
   * a, b or c: whichever of those reads the record, it is another node than the dead one), about
   * an event that is 70 s old by the time another node reads it again (past the claim's TTL and the
   * page budget): the host's lock, the page acknowledged by the controller's user (PagerDuty's timer
   * stopped: nobody is paged), and its attempt record.
   */
  async function leftByDeadNode(host: string, incidentKey: string, down: boolean) {
    if (down) stack.fleet.inject({ kind: 'host_down', host });
    const event = hostDown('sms-api', host, {
      incident_key: incidentKey,
      time: new Date(Date.now() - 70_000).toISOString(),
      // Not folded into an earlier report about the same host.
      data: { host_state: 'UNREACHABLE', host_state_type: 'HARD' },
    });
    probe.page(event);
    const lockKey = probe.keys.lock(`host:sms-api/${host}`);
    const owner = `event:${event.id}@d`;
    await probe.redis.set(lockKey, `${owner}:41`, 'PX', 600_000);
    await probe.redis.set(
      probe.keys.attempt(event.id),
      JSON.stringify({
        node: 'd',
        lock: { resource: `host:sms-api/${host}`, owner, token: 41 },
        acknowledged: true,
      }),
      'PX',
      600_000,
    );
    stack.pagerduty.acknowledgeAs(incidentKey, 'lazarus@local.invalid');
    return { event, lockKey, owner };
  }

  test('a node died after locking and acknowledging: the next node takes the event over and remediates, past the budget', async () => {
    const { event, lockKey, owner } = await leftByDeadNode('sms-api-1', 'PD-orphan', true);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    assert.deepEqual(d.earlier_attempt?.node, 'd');
    assert.equal(d.lock?.acquired, true);
    assert.equal(d.lock.owner, `event:${event.id}@${d.coordinator.node}`);
    assert.equal(d.lock.took_over_from, owner);
    assert.ok(d.lock.token !== 41, 'a new fencing token');
    assert.equal(
      d.page?.ok,
      true,
      "acknowledged again, with a budget of its own: the page was the controller's",
    );
    const r = await probe.finished(`run-${event.id}`);
    assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
    assert.equal(incident('PD-orphan').status, 'resolved');
    await waitFor('the lock released', async () =>
      (await probe.redis.exists(lockKey)) === 0 ? true : undefined,
    );
    assert.equal(await probe.redis.exists(probe.keys.attempt(event.id)), 0);
  });

  test('a node died after locking and acknowledging, and the event is not to be acted on: the lock is freed, the page goes to the humans', async () => {
    // The host is up: the checks fail.
    const { event, lockKey } = await leftByDeadNode('sms-api-3', 'PD-orphan-2', false);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'checks_failed');
    assert.equal(d.earlier_attempt?.acknowledged, true);
    assert.equal(await probe.redis.exists(lockKey), 0, "the dead attempt's lock is freed");
    const escalated = await waitFor(
      'the page escalated to the humans',
      () => Promise.resolve(incident('PD-orphan-2').escalation_level === 2 ? true : undefined),
      15_000,
    );
    assert.ok(escalated);
    assert.equal(incident('PD-orphan-2').status, 'triggered', 'paging the next level');
    assert.equal(await probe.run(`run-${event.id}`), undefined, 'no workflow');
  });

  test('a second report about a page being remediated: lock_held, and the page is left with the remediation', async () => {
    stack.fleet.setBootDelay(3000);
    try {
      stack.fleet.inject({ kind: 'host_down', host: 'sms-api-7' });
      const first = hostDown('sms-api', 'sms-api-7', { incident_key: 'PD-busy' });
      probe.page(first);
      await probe.put(first);
      const firstDecision = await probe.waitDecision(first.id);
      assert.equal(
        firstDecision.decision,
        'act',
        `${firstDecision.reason ?? ''} ${JSON.stringify(firstDecision.votes.map((v) => v.checks))}`,
      );
      // Nagios again, same page, a different state: not a duplicate, and the host is locked.
      const second = hostDown('sms-api', 'sms-api-7', {
        incident_key: 'PD-busy',
        data: { host_state: 'UNREACHABLE', host_state_type: 'HARD' },
      });
      await probe.put(second);
      const d = await probe.waitDecision(second.id);
      // Held by the run (lock_held), or, once the run has taken the host out of the load balancer,
      // no longer the host in trouble (HostActive fails): which one depends on the machine's speed.
      assert.ok(d.reason === 'lock_held' || d.reason === 'checks_failed', d.reason);
      if (d.reason === 'checks_failed')
        assert.ok(d.votes.every((v) => v.checks.some((c) => c.name === 'HostActive' && !c.pass)));
      const record = await waitFor(
        'the first response in the record',
        async () => (await probe.decision(second.id))?.page,
        10_000,
      );
      assert.equal(record.action, 'escalate');
      assert.match(record.left_as_is ?? '', /taken already/);
      const i = incident('PD-busy');
      assert.equal(i.status, 'acknowledged', 'still with the remediation');
      assert.equal(i.escalation_level, 1, 'nobody paged');
      assert.ok(
        i.notes.some((n) => /Assisted diagnosis.*(lock_held|checks_failed)/.test(n.content)),
        'the evidence is noted',
      );
      const r = await probe.finished(`run-${first.id}`);
      assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
      assert.equal(incident('PD-busy').status, 'resolved');
    } finally {
      stack.fleet.setBootDelay(0);
    }
  });

  test('notify_only: no ack, no workflow step; a "would have" message with the planned steps', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'onboard-1' });
    const event = hostDown('onboard', 'onboard-1', { incident_key: 'PD-onboard' });
    probe.page(event);
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''}`);
    assert.equal(d.mode, 'notify_only');
    assert.equal(d.page, undefined);
    const text = await slackSays(
      '/onboard',
      '[notify_only] Lazarus would have remediated onboard-1 (onboard)',
    );
    for (const step of [
      'acknowledge (pagerduty.acknowledge)',
      'boot (http.request)',
      'resolve (pagerduty.resolve)',
    ])
      assert.ok(text.includes(step), `${step} in the plan:\n${text}`);
    assert.match(text, /would have acknowledged the page and run "default\.replace_host":\n {2}1\. /);
    assert.match(text, /Nothing was done/);
    assert.equal(await probe.run(`run-${event.id}`), undefined, 'no workflow');
    assert.equal(await probe.redis.exists(probe.keys.lock('host:onboard/onboard-1')), 0, 'lock released');
    const i = incident('PD-onboard');
    assert.equal(i.status, 'triggered', 'not acknowledged');
    assert.deepEqual(
      stack.pagerduty.calls().filter((c) => c.method !== 'GET' && c.path.startsWith(`/incidents/${i.id}`)),
      [],
      'no write to the page',
    );
  });
});
