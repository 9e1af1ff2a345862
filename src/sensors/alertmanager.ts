/**
 * Prometheus Alertmanager's webhook (`webhook_configs`, payload `version: "4"`): one event per
 * firing alert; a resolved alert acts on nothing (ignored, said in the log and counted).
 *
 * The incident key is the one Alertmanager's own PagerDuty receiver pages with: its `dedup_key`
 * (`incident_key` with the v1 API) is `key.Hash()` of the notification's group key, the SHA-256
 * hex of the same `groupKey` the webhook carries (alertmanager `notify/pagerduty/pagerduty.go`,
 * `notify.Key.Hash` in `notify/notify.go`). So the page the route raised through PagerDuty and the
 * events of its alerts correlate with no configuration, when both receivers are on one route.
 */
import { createHash } from 'node:crypto';
import { hostOf, idPart, read, tried, typeOf, valueAt } from './mapping.js';
import type { SensorItem, SensorMapping } from './types.js';

/** The webhook's own version; another is refused rather than half understood. */
const VERSION = '4';

export function isAlertmanagerWebhook(value: unknown): boolean {
  const v = value as Record<string, unknown> | null;
  return (
    typeof v === 'object' && v !== null && typeof v['groupKey'] === 'string' && Array.isArray(v['alerts'])
  );
}

/** PagerDuty's dedup key for the group, as Alertmanager's PagerDuty receiver derives it. */
export function alertmanagerIncidentKey(groupKey: string): string {
  return createHash('sha256').update(groupKey, 'utf8').digest('hex');
}

/** `receivedMs`: when the webhook reached the API (the events' time: see the README). */
export function mapAlertmanager(payload: unknown, mapping: SensorMapping, receivedMs: number): SensorItem[] {
  const body = payload as Record<string, unknown>;
  if (!isAlertmanagerWebhook(payload))
    return [
      {
        kind: 'rejected',
        what: 'alertmanager webhook',
        reason: 'not an Alertmanager webhook: it needs groupKey and alerts[]',
      },
    ];
  if (body['version'] !== VERSION)
    return [
      {
        kind: 'rejected',
        what: 'alertmanager webhook',
        reason: `webhook version ${JSON.stringify(body['version'])} is not the version "${VERSION}" this adapter reads`,
      },
    ];
  const groupKey = body['groupKey'] as string;
  const incidentKey = alertmanagerIncidentKey(groupKey);
  const time = new Date(receivedMs).toISOString();
  return (body['alerts'] as unknown[]).map((alert, i): SensorItem => {
    const a = (typeof alert === 'object' && alert !== null ? alert : {}) as Record<string, unknown>;
    const name = valueAt(a, 'labels.alertname') ?? `alerts[${i}]`;
    const fingerprint = valueAt(a, 'fingerprint');
    const what = `alert ${name}${fingerprint === undefined ? '' : ` (${fingerprint})`}`;
    const status = valueAt(a, 'status');
    if (status === 'resolved') return { kind: 'ignored', what, reason: 'resolved: nothing to act on' };
    if (status !== 'firing')
      return {
        kind: 'rejected',
        what,
        reason: `status ${JSON.stringify(a['status'])} is neither firing nor resolved`,
      };
    const service = read(a, mapping.service);
    if (service === undefined)
      return { kind: 'rejected', what, reason: `no service: none of ${tried(mapping.service)} is set` };
    const rawHost = read(a, mapping.host);
    if (rawHost === undefined)
      return { kind: 'rejected', what, reason: `no host: none of ${tried(mapping.host)} is set` };
    const type = typeOf(a, mapping);
    if (type === undefined)
      return { kind: 'rejected', what, reason: `no type: none of ${tried(mapping.type)} is set` };
    const startsAt = valueAt(a, 'startsAt');
    const started = startsAt === undefined ? Number.NaN : Date.parse(startsAt);
    // Alertmanager sends an alert again (repeat_interval) with the same fingerprint and start: the
    // same event, decided once.
    const key =
      fingerprint ??
      createHash('sha256')
        .update(JSON.stringify(a['labels'] ?? {}))
        .digest('hex')
        .slice(0, 16);
    const id = `am-${idPart(key)}-${Number.isFinite(started) ? Math.floor(started / 1000) : 'nostart'}`;
    return {
      kind: 'event',
      envelope: {
        id,
        type,
        source: 'alertmanager',
        time,
        environment: read(a, mapping.environment) ?? 'prod',
        service,
        host: hostOf(rawHost),
        incident_key: incidentKey,
        data: {
          alertname: name,
          status,
          labels: a['labels'] ?? {},
          annotations: a['annotations'] ?? {},
          ...(startsAt === undefined ? {} : { starts_at: startsAt }),
          ...(fingerprint === undefined ? {} : { fingerprint }),
          ...(typeof a['generatorURL'] === 'string' ? { generator_url: a['generatorURL'] } : {}),
          group_key: groupKey,
        },
      },
    };
  });
}
