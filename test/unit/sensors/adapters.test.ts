/**
 * The sensor adapters against fixtures written from each format's documentation (Alertmanager's
 * webhook_config payload, the Datadog template of the README, AWS's EventBridge event examples):
 * what each alert becomes, the incident key Alertmanager's own PagerDuty receiver pages with, and
 * what cannot be mapped (rejected, with the reason) or needs nothing (ignored).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { InventoryHost } from '../../../src/inventory/types.js';
import { alertmanagerIncidentKey, mapAlertmanager } from '../../../src/sensors/alertmanager.js';
import { mapDatadog, parseTags } from '../../../src/sensors/datadog.js';
import { mapEventBridge } from '../../../src/sensors/eventbridge.js';
import { expandRecord, sensorRecord } from '../../../src/sensors/expand.js';
import { DEFAULT_MAPPINGS, hostOf, mappingsFrom } from '../../../src/sensors/mapping.js';
import type { SensorItem } from '../../../src/sensors/types.js';
import { REPO } from '../../helpers/config-copy.js';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'sensors', name), 'utf8')) as Record<
    string,
    unknown
  >;
const RECEIVED = Date.parse('2026-12-01T10:01:00Z');
const INSTANCE = 'i-0abcd1111ef222222';
const HOST: InventoryHost = {
  id: 'sms-api-4',
  service: 'sms-api',
  zone: 'a',
  state: 'active',
  healthUrl: 'http://h',
};
const lookup = (id: string): Promise<InventoryHost | undefined> =>
  Promise.resolve(id === INSTANCE ? { ...HOST, instanceId: INSTANCE } : undefined);
const events = (items: readonly SensorItem[]) =>
  items.flatMap((i) => (i.kind === 'event' ? [i.envelope] : []));

describe('sensor adapters', () => {
  test('Alertmanager: a firing alert is an event, a resolved one is ignored, one without a service is rejected', () => {
    const webhook = fixture('alertmanager-webhook.json');
    const items = mapAlertmanager(webhook, DEFAULT_MAPPINGS.alertmanager, RECEIVED);
    assert.deepEqual(
      items.map((i) => i.kind),
      ['event', 'ignored', 'rejected'],
    );
    const [event] = events(items);
    // The dedup key of Alertmanager's PagerDuty receiver: SHA-256 hex of the group key.
    const key = createHash('sha256').update(String(webhook['groupKey'])).digest('hex');
    assert.equal(alertmanagerIncidentKey(String(webhook['groupKey'])), key);
    assert.deepEqual(
      { ...event, data: undefined },
      {
        id: `am-a1b2c3d4e5f60718-${Date.parse('2026-12-01T10:00:00Z') / 1000}`,
        type: 'HostDown',
        source: 'alertmanager',
        time: '2026-12-01T10:01:00.000Z',
        environment: 'prod',
        service: 'sms-api',
        host: 'sms-api-2',
        incident_key: key,
        data: undefined,
      },
    );
    assert.equal(event?.data['starts_at'], '2026-12-01T10:00:00.000Z');
    assert.deepEqual(items[1], {
      kind: 'ignored',
      what: 'alert HostDown (0f1e2d3c4b5a6978)',
      reason: 'resolved: nothing to act on',
    });
    assert.deepEqual(items[2], {
      kind: 'rejected',
      what: 'alert HostDown (1122334455667788)',
      reason: 'no service: none of labels.service, labels.job is set',
    });
  });

  test('Alertmanager: the mapping renames types and reads other labels; another webhook version is refused', () => {
    const mappings = mappingsFrom({
      alertmanager: {
        service: { from: ['labels.team_service'], default: 'sms-api' },
        types: { HostDown: 'HealthcheckDown' },
      },
      datadog: {},
    });
    const items = mapAlertmanager(fixture('alertmanager-webhook.json'), mappings.alertmanager, RECEIVED);
    assert.deepEqual(
      events(items).map((e) => [e.type, e.service, e.host]),
      [
        ['HealthcheckDown', 'sms-api', 'sms-api-2'],
        ['HealthcheckDown', 'sms-api', '10.0.3.7'],
      ],
    );
    const v3 = mapAlertmanager(
      { ...fixture('alertmanager-webhook.json'), version: '3' },
      mappings.alertmanager,
      RECEIVED,
    );
    assert.match(
      v3[0]?.kind === 'rejected' ? v3[0].reason : '',
      /webhook version "3" is not the version "4"/,
    );
  });

  test("Alertmanager: a webhook of 20 alerts is 20 events with their own ids and the group's one incident key", () => {
    const webhook = fixture('alertmanager-webhook.json');
    const first = (webhook['alerts'] as Record<string, unknown>[])[0] ?? {};
    const alerts = Array.from({ length: 20 }, (_, i) => ({
      ...first,
      labels: { ...(first['labels'] as object), instance: `sms-api-${i + 1}:9100` },
      fingerprint: `f${String(i).padStart(15, '0')}`,
    }));
    const out = events(mapAlertmanager({ ...webhook, alerts }, DEFAULT_MAPPINGS.alertmanager, RECEIVED));
    assert.equal(out.length, 20);
    assert.equal(new Set(out.map((e) => e.id)).size, 20);
    assert.equal(new Set(out.map((e) => e.incident_key)).size, 1);
    assert.deepEqual(
      out.slice(0, 2).map((e) => e.host),
      ['sms-api-1', 'sms-api-2'],
    );
  });

  test('Datadog: the README template maps to an event; Recovered is ignored; no service tag is rejected', () => {
    const hook = fixture('datadog-webhook.json');
    assert.deepEqual(parseTags(String(hook['tags'])), { env: 'prod', service: 'sms-api', host: 'sms-api-3' });
    const [event] = events(mapDatadog(hook, DEFAULT_MAPPINGS.datadog, RECEIVED));
    assert.deepEqual(
      [event?.id, event?.type, event?.service, event?.host, event?.environment, event?.time],
      [
        'dd-7352749018375390417',
        'DatadogMonitor',
        'sms-api',
        'sms-api-3',
        'prod',
        new Date(1764583200000).toISOString(),
      ],
    );
    assert.equal(event?.data['transition'], 'Triggered');
    assert.equal(
      mapDatadog({ ...hook, transition: 'Recovered' }, DEFAULT_MAPPINGS.datadog, RECEIVED)[0]?.kind,
      'ignored',
    );
    const untagged = mapDatadog({ ...hook, tags: 'env:prod' }, DEFAULT_MAPPINGS.datadog, RECEIVED)[0];
    assert.equal(untagged?.kind, 'rejected');
    assert.match(
      untagged?.kind === 'rejected' ? untagged.reason : '',
      /no service: none of tags.service is set/,
    );
  });

  test('AWS Health retirement: AWSScheduledEvent with event_code instance-retirement, the host from the inventory', async () => {
    const [item] = await mapEventBridge(fixture('aws-health-retirement.json'), lookup, 'prod');
    assert.equal(item?.kind, 'event');
    const event = item?.kind === 'event' ? item.envelope : undefined;
    assert.equal(event?.id, `aws-7bf73129-1428-4cd3-a780-95db273d1602-${INSTANCE}`);
    assert.equal(event?.type, 'AWSScheduledEvent');
    assert.deepEqual(
      [event?.service, event?.host, event?.time],
      ['sms-api', 'sms-api-4', '2026-12-01T09:01:22.000Z'],
    );
    assert.equal(event?.data['event_code'], 'instance-retirement');
    assert.equal(event?.data['instance_id'], INSTANCE);
    // An instance the inventory does not know: rejected with the reason.
    const unknown = await mapEventBridge(
      fixture('aws-health-retirement.json'),
      () => Promise.resolve(undefined),
      'prod',
    );
    assert.deepEqual(
      unknown.map((i) => i.kind),
      ['rejected'],
    );
    assert.match(
      unknown[0]?.kind === 'rejected' ? unknown[0].reason : '',
      new RegExp(`instance ${INSTANCE} is not in the inventory`),
    );
    // Closed, or not a scheduled change: nothing to act on.
    const closed = fixture('aws-health-retirement.json');
    (closed['detail'] as Record<string, unknown>)['statusCode'] = 'closed';
    assert.equal((await mapEventBridge(closed, lookup, 'prod'))[0]?.kind, 'ignored');
  });

  test('EC2 state change and CloudWatch alarm: events for stopping and ALARM; running and OK need nothing', async () => {
    const [stopping] = events(await mapEventBridge(fixture('ec2-state-change.json'), lookup, 'prod'));
    assert.deepEqual(
      [stopping?.type, stopping?.host, stopping?.data['state']],
      ['EC2InstanceStateChange', 'sms-api-4', 'stopping'],
    );
    const running = fixture('ec2-state-change.json');
    (running['detail'] as Record<string, unknown>)['state'] = 'running';
    assert.equal((await mapEventBridge(running, lookup, 'prod'))[0]?.kind, 'ignored');
    const [alarm] = events(await mapEventBridge(fixture('cloudwatch-alarm.json'), lookup, 'prod'));
    assert.deepEqual(
      [alarm?.type, alarm?.host, alarm?.data['alarm_name']],
      ['CloudWatchAlarm', 'sms-api-4', 'sms-api-status-check'],
    );
    const ok = fixture('cloudwatch-alarm.json');
    ((ok['detail'] as Record<string, unknown>)['state'] as Record<string, unknown>)['value'] = 'OK';
    assert.equal((await mapEventBridge(ok, lookup, 'prod'))[0]?.kind, 'ignored');
  });

  test('records on the stream: a sensor record and a bare EventBridge event are expanded; an envelope is not', async () => {
    const context = {
      mappings: DEFAULT_MAPPINGS,
      lookup,
      awsEnvironment: 'prod',
      arrivalMs: RECEIVED,
      services: new Set(['sms-api']),
    };
    const stamp = { via: 'api', token: 'prometheus', node: 'a' } as const;
    const wrapped = Buffer.from(
      sensorRecord('alertmanager', fixture('alertmanager-webhook.json'), RECEIVED, stamp),
    );
    const expanded = await expandRecord(wrapped, context);
    assert.equal(expanded?.sensor, 'alertmanager');
    assert.deepEqual(expanded?.submittedBy, stamp);
    assert.deepEqual(
      expanded?.items.map((i) => i.kind),
      ['event', 'ignored', 'rejected'],
    );
    const bare = await expandRecord(
      Buffer.from(JSON.stringify(fixture('aws-health-retirement.json'))),
      context,
    );
    assert.equal(bare?.sensor, 'eventbridge');
    assert.equal(bare?.items[0]?.kind, 'event');
    const envelope = {
      id: 'e-1',
      type: 'X',
      source: 's',
      time: '2026-12-01T10:00:00Z',
      environment: 'prod',
      service: 'sms-api',
      host: 'h',
      data: { note: 'detail-type' },
    };
    assert.equal(await expandRecord(Buffer.from(JSON.stringify(envelope)), context), undefined);
    // A service the region does not have: rejected, not decided.
    const other = await expandRecord(wrapped, { ...context, services: new Set(['voice-gateway']) });
    assert.match(
      other?.items[0]?.kind === 'rejected' ? other.items[0].reason : '',
      /service "sms-api" is not a service of this region/,
    );
  });

  test('hosts as sensors name them: the port of host:port goes, IPv6 keeps its address', () => {
    assert.equal(hostOf('sms-api-2:9100'), 'sms-api-2');
    assert.equal(hostOf('[::1]:9100'), '::1');
    assert.equal(hostOf('sms-api-2'), 'sms-api-2');
  });
});
