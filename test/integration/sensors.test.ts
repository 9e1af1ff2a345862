/**
 * Sensors as they are, against the three-node stack: an Alertmanager webhook and a Datadog webhook
 * through the real REST API (`POST /v1/sensors/...`), AWS events put on the real stream as
 * EventBridge writes them, each ending in decisions (or rejected records) asserted on.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/records/decision.js';
import { alertmanagerIncidentKey } from '../../src/sensors/alertmanager.js';
import { instanceIdOf } from '../../src/sim/fleet.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe } from '../helpers/cluster.js';
import { REPO } from '../helpers/config-copy.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
`;

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'sensors', name), 'utf8')) as Record<
    string,
    unknown
  >;

type Alert = Record<string, unknown> & { labels: Record<string, string> };

describe(
  'sensors: Alertmanager, Datadog and AWS events against the three-node stack',
  { timeout: 300_000 },
  () => {
    let stack: LocalStack;
    let probe: ClusterProbe;
    const run = `${process.pid}-${Date.now().toString(36)}`;

    before(async () => {
      stack = await LocalStack.start({
        services: SERVICES,
        fleet: { services: { 'sms-api': 24 } },
        region: {
          thresholds: { vote_timeout: '3s' },
          kinesis: { poll_interval: '50ms' },
          sensors: {
            alertmanager: { types: { HostDown: 'HealthcheckDown' } },
            datadog: { types: { DatadogMonitor: 'HealthcheckDown' } },
          },
        },
      });
      probe = new ClusterProbe(stack);
    });
    after(async () => {
      await probe?.close();
      await stack?.stop();
      await stack?.remove();
    });

    async function post(sensor: string, body: unknown, token = stack.apiToken): Promise<Response> {
      return fetch(`${stack.apiUrl('a')}/v1/sensors/${sensor}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    }

    async function rejectedFor(
      sequence: string,
      count: number,
    ): Promise<{ item?: number; message: string; sensor?: string }[]> {
      return waitFor(
        `${count} rejected records of ${sequence}`,
        async () => {
          const found = (await probe.rejected()).filter((r) => r.sequence === sequence);
          return found.length >= count ? found : undefined;
        },
        30_000,
      );
    }

    test('Alertmanager: the firing alert acts (its page acknowledged by the group key), resolved is ignored, no service and an unknown service are rejected', async () => {
      stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
      const webhook = fixture('alertmanager-webhook.json');
      const groupKey = `{}/{severity="page"}:{alertname="HostDown",run="${run}"}`;
      const alerts = webhook['alerts'] as Alert[];
      const ghost: Alert = {
        ...(alerts[0] as Alert),
        labels: { ...(alerts[0] as Alert).labels, service: 'ghost-service' },
        fingerprint: 'ffffeeeeddddcccc',
      };
      // Alertmanager's PagerDuty receiver on the same route pages with the group key's hash.
      const incidentKey = alertmanagerIncidentKey(groupKey);
      stack.pagerduty.createIncident({ incidentKey, service: 'sms-api' });
      const res = await post('alertmanager', { ...webhook, groupKey, alerts: [...alerts, ghost] });
      assert.equal(res.status, 202, await res.clone().text());
      const answer = (await res.json()) as { items: { kind: string; id?: string; reason?: string }[] };
      assert.deepEqual(
        answer.items.map((i) => i.kind),
        ['event', 'ignored', 'rejected', 'rejected'],
      );
      const id = answer.items[0]?.id ?? '';
      const decided = await probe.waitDecision(id, 60_000);
      assert.equal(
        decided.decision,
        'act',
        `${decided.decision}/${decided.reason ?? ''} ${decided.error ?? ''}`,
      );
      assert.equal(decided.event_type, 'HealthcheckDown');
      assert.equal(decided.host, 'sms-api-2');
      assert.equal(decided.event.incident_key, incidentKey);
      assert.deepEqual(decided.submitted_by, { via: 'api', token: 'default', node: 'a' });
      assert.deepEqual(
        [decided.page?.action, decided.page?.ok],
        ['acknowledge', true],
        JSON.stringify(decided.page),
      );
      const finished = await probe.finished(`run-${id}`);
      assert.equal(finished.status, 'succeeded', JSON.stringify(finished.failure));
      // The two that could not be mapped are rejected records of their own, with the reason.
      const record = (await probe.rejected()).find((r) => r.message.includes('ffffeeeeddddcccc'));
      assert.ok(record !== undefined, 'the unknown service is recorded');
      const both = await rejectedFor(record.sequence, 2);
      assert.deepEqual(both.map((r) => [r.item, r.sensor]).sort(), [
        [2, 'alertmanager'],
        [3, 'alertmanager'],
      ]);
      assert.ok(both.some((r) => /no service: none of labels.service, labels.job is set/.test(r.message)));
      assert.ok(both.some((r) => /service "ghost-service" is not a service of this region/.test(r.message)));
      // `lazarus events --status rejected` and the console read the same list through the API.
      const listed = (await (await fetch(`${stack.apiUrl('b')}/v1/rejected`)).json()) as {
        items: { message: string }[];
      };
      assert.ok(
        listed.items.some((r) => r.message.includes('ghost-service')),
        JSON.stringify(listed).slice(0, 300),
      );
      stack.fleet.clear();
    });

    test('Alertmanager: a webhook of 20 alerts is 20 events, each decided once', async () => {
      const webhook = fixture('alertmanager-webhook.json');
      const first = (webhook['alerts'] as Alert[])[0] as Alert;
      const alerts = Array.from({ length: 20 }, (_, i) => ({
        ...first,
        labels: { ...first.labels, alertname: 'NodeHighLoad', instance: `sms-api-${i + 1}:9100` },
        fingerprint: `${run.replace(/[^0-9a-z]/g, '').slice(-8)}${String(i).padStart(8, '0')}`,
      }));
      const res = await post('alertmanager', {
        ...webhook,
        groupKey: `{}:{alertname="NodeHighLoad",run="${run}"}`,
        alerts,
      });
      assert.equal(res.status, 202);
      const answer = (await res.json()) as { items: { kind: string; id?: string }[] };
      const ids = answer.items.map((i) => i.id ?? '');
      assert.equal(new Set(ids).size, 20);
      const decisions: DecisionRecord[] = [];
      for (const id of ids) decisions.push(await probe.waitDecision(id, 60_000));
      // No rule of sms-api matches NodeHighLoad: each escalates no_rule, on its own.
      assert.deepEqual(
        [...new Set(decisions.map((d) => `${d.decision}/${d.reason ?? ''}`))],
        ['escalate/no_rule'],
      );
      assert.deepEqual(
        decisions.map((d) => d.host),
        Array.from({ length: 20 }, (_, i) => `sms-api-${i + 1}`),
      );
    });

    test('Datadog: the README template, Triggered, acts; Recovered is ignored', async () => {
      stack.fleet.inject({ kind: 'host_down', host: 'sms-api-3' });
      const hook = { ...fixture('datadog-webhook.json'), id: `${Date.now()}1`, date: String(Date.now()) };
      const res = await post('datadog', hook);
      assert.equal(res.status, 202);
      const answer = (await res.json()) as { items: { kind: string; id?: string }[] };
      assert.equal(answer.items[0]?.kind, 'event');
      const decided = await probe.waitDecision(answer.items[0]?.id ?? '', 60_000);
      assert.equal(
        decided.decision,
        'act',
        `${decided.decision}/${decided.reason ?? ''} ${decided.error ?? ''}`,
      );
      assert.equal(decided.host, 'sms-api-3');
      const finished = await probe.finished(`run-${decided.event_id}`);
      assert.equal(finished.status, 'succeeded', JSON.stringify(finished.failure));
      const recovered = await post('datadog', { ...hook, id: `${Date.now()}2`, transition: 'Recovered' });
      assert.deepEqual(
        ((await recovered.json()) as { items: { kind: string }[] }).items.map((i) => i.kind),
        ['ignored'],
      );
      // A token of another role cannot post a sensor's webhook; no token at all is a 401.
      assert.equal((await post('datadog', hook, 'wrong-token')).status, 401);
      stack.fleet.clear();
    });

    test('AWS Health through EventBridge on the stream: the retiring instance is replaced ahead of time; an unknown instance is rejected', async () => {
      const health = fixture('aws-health-retirement.json');
      const instance = instanceIdOf('sms-api-4');
      const event = {
        ...health,
        id: `health-${run}`,
        time: new Date().toISOString(),
        resources: [instance],
        detail: { ...(health['detail'] as object), affectedEntities: [{ entityValue: instance }] },
      };
      await probe.put(Buffer.from(JSON.stringify(event)), 'aws.health');
      const id = `aws-health-${run.replace(/[^A-Za-z0-9._:-]/g, '_')}-${instance}`;
      const decided = await probe.waitDecision(id, 60_000);
      assert.equal(
        decided.decision,
        'act',
        `${decided.decision}/${decided.reason ?? ''} ${decided.error ?? ''}`,
      );
      assert.equal(decided.event_type, 'AWSScheduledEvent');
      assert.equal(decided.host, 'sms-api-4');
      assert.equal(decided.rule?.name, 'aws_scheduled_event');
      assert.deepEqual(decided.submitted_by, { via: 'stream' });
      await probe.finished(`run-${id}`);

      // EC2 state changes and CloudWatch alarms: events of their own types (no shipped rule acts on
      // them: escalate no_rule), ignored when there is nothing to act on.
      const other = instanceIdOf('sms-api-5');
      const stopping = {
        ...fixture('ec2-state-change.json'),
        id: `ec2-${run}`,
        time: new Date().toISOString(),
        resources: [],
        detail: { 'instance-id': other, state: 'stopping' },
      };
      const alarm = fixture('cloudwatch-alarm.json');
      const metric = (
        ((alarm['detail'] as Record<string, unknown>)['configuration'] as Record<string, unknown>)[
          'metrics'
        ] as Record<string, unknown>[]
      )[0] as Record<string, unknown>;
      const stat = metric['metricStat'] as { metric: { dimensions: Record<string, string> } };
      stat.metric.dimensions['InstanceId'] = other;
      const alarmed = { ...alarm, id: `cw-${run}`, time: new Date().toISOString() };
      for (const e of [stopping, alarmed] as Record<string, unknown>[])
        await probe.put(Buffer.from(JSON.stringify(e)), String(e['source']));
      for (const [e, type] of [
        [stopping, 'EC2InstanceStateChange'],
        [alarmed, 'CloudWatchAlarm'],
      ] as const) {
        const d = await probe.waitDecision(
          `aws-${String(e['id']).replace(/[^A-Za-z0-9._:-]/g, '_')}-${other}`,
          60_000,
        );
        assert.deepEqual(
          [d.event_type, d.host, d.decision, d.reason],
          [type, 'sms-api-5', 'escalate', 'no_rule'],
        );
      }

      const stranger = {
        ...event,
        id: `health-${run}-2`,
        resources: ['i-00000000000000000'],
        detail: { ...(event.detail as object), affectedEntities: [] },
      };
      const put = await probe.put(Buffer.from(JSON.stringify(stranger)), 'aws.health');
      const [record] = await rejectedFor(put.sequence, 1);
      assert.match(record?.message ?? '', /instance i-00000000000000000 is not in the inventory/);
      assert.equal(record?.sensor, 'eventbridge');
    });
  },
);
