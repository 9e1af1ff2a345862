/**
 * Datadog's webhook: its payload is a template the user writes (Webhooks integration, `Payload`),
 * filled with Datadog's `$VARIABLES`. The README gives the template this adapter reads:
 *
 *     { "id": "$ID", "transition": "$ALERT_TRANSITION", "alert_type": "$ALERT_TYPE",
 *       "monitor_id": "$ALERT_ID", "cycle_key": "$ALERT_CYCLE_KEY", "title": "$EVENT_TITLE",
 *       "hostname": "$HOSTNAME", "tags": "$TAGS", "date": "$DATE", "priority": "$ALERT_PRIORITY",
 *       "link": "$LINK" }
 *
 * `$TAGS` is a comma-separated `key:value` list, read as `tags.<key>`. A `Recovered` transition (or
 * `alert_type: success`) acts on nothing. Datadog retries a notification with the same `$ID`: the
 * same event, decided once.
 */
import { hostOf, idPart, read, tried, typeOf, valueAt } from './mapping.js';
import type { SensorItem, SensorMapping } from './types.js';

/** `env:prod, service:sms-api` → `{ env: 'prod', service: 'sms-api' }` (the first value of a key). */
export function parseTags(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    const tag = item.trim();
    const colon = tag.indexOf(':');
    if (colon <= 0) continue;
    const key = tag.slice(0, colon);
    out[key] ??= tag.slice(colon + 1);
  }
  return out;
}

export function mapDatadog(payload: unknown, mapping: SensorMapping, receivedMs: number): SensorItem[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    return [{ kind: 'rejected', what: 'datadog webhook', reason: 'the payload is not a JSON object' }];
  const body = payload as Record<string, unknown>;
  const tags = typeof body['tags'] === 'string' ? parseTags(body['tags']) : {};
  const view = { ...body, tags };
  const notification = valueAt(body, 'id');
  const what = `datadog ${valueAt(body, 'title') ?? 'notification'}${notification === undefined ? '' : ` (${notification})`}`;
  if (notification === undefined)
    return [{ kind: 'rejected', what, reason: 'no id: the template needs "id": "$ID"' }];
  const transition = valueAt(body, 'transition');
  if (transition === 'Recovered' || valueAt(body, 'alert_type') === 'success')
    return [{ kind: 'ignored', what, reason: 'recovered: nothing to act on' }];
  const service = read(view, mapping.service);
  if (service === undefined)
    return [{ kind: 'rejected', what, reason: `no service: none of ${tried(mapping.service)} is set` }];
  const rawHost = read(view, mapping.host);
  if (rawHost === undefined)
    return [{ kind: 'rejected', what, reason: `no host: none of ${tried(mapping.host)} is set` }];
  const type = typeOf(view, mapping);
  if (type === undefined)
    return [{ kind: 'rejected', what, reason: `no type: none of ${tried(mapping.type)} is set` }];
  // `$DATE` is epoch milliseconds.
  const date = Number(valueAt(body, 'date'));
  const time = new Date(Number.isFinite(date) && date > 0 ? date : receivedMs).toISOString();
  const incidentKey = valueAt(body, 'incident_key');
  const data: Record<string, unknown> = { tags };
  for (const field of ['transition', 'alert_type', 'monitor_id', 'cycle_key', 'title', 'priority', 'link'])
    if (valueAt(body, field) !== undefined) data[field] = valueAt(body, field);
  return [
    {
      kind: 'event',
      envelope: {
        id: `dd-${idPart(notification)}`,
        type,
        source: 'datadog',
        time,
        environment: read(view, mapping.environment) ?? 'prod',
        service,
        host: hostOf(rawHost),
        ...(incidentKey === undefined ? {} : { incident_key: incidentKey }),
        data,
      },
    },
  ];
}
