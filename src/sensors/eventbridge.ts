/**
 * AWS events delivered by an EventBridge rule whose target is the region's stream (the event is
 * the record, as EventBridge writes it: `version`, `id`, `detail-type`, `source`, `account`,
 * `time`, `region`, `resources`, `detail`). Recognised by that shape. The instance an event is
 * about is mapped to its service and host through the inventory's `instance_id`s; one event per
 * instance.
 *
 * - AWS Health (`source: aws.health`, `detail-type: AWS Health Event`, `detail.service: EC2`,
 *   `detail.eventTypeCategory: scheduledChange`): `AWSScheduledEvent` with `data.event_code`
 *   (`instance-retirement`, `instance-stop`, `instance-reboot`, `system-reboot`), which the shipped
 *   `aws_scheduled_event` rule matches. Instances from `detail.affectedEntities[].entityValue` and
 *   `resources`. A `closed` event, or another category, acts on nothing.
 * - `EC2 Instance State-change Notification` (`source: aws.ec2`): `EC2InstanceStateChange` with
 *   `data.state`; `pending` and `running` act on nothing.
 * - `CloudWatch Alarm State Change` (`source: aws.cloudwatch`): `CloudWatchAlarm` for `ALARM`, the
 *   instance from the alarm's `InstanceId` dimension; `OK` and `INSUFFICIENT_DATA` act on nothing.
 */
import { idPart, valueAt } from './mapping.js';
import type { Envelope, InstanceLookup, SensorItem } from './types.js';

/** AWS Health's EC2 scheduled-change codes, as the `aws_scheduled_event` rule names them. */
export const HEALTH_EVENT_CODES: Readonly<Record<string, string>> = {
  AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED: 'instance-retirement',
  AWS_EC2_INSTANCE_STOP_SCHEDULED: 'instance-stop',
  AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED: 'instance-reboot',
  AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED: 'system-reboot',
  AWS_EC2_SYSTEM_MAINTENANCE_EVENT: 'system-maintenance',
};

const INSTANCE = /\b(i-[0-9a-f]{8,17})\b/;

export function isEventBridgeEvent(value: unknown): boolean {
  const v = value as Record<string, unknown> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v['detail-type'] === 'string' &&
    typeof v['source'] === 'string' &&
    typeof v['id'] === 'string' &&
    typeof v['time'] === 'string' &&
    typeof v['detail'] === 'object' &&
    v['detail'] !== null
  );
}

interface Found {
  readonly type: string;
  readonly instances: readonly string[];
  readonly data: Readonly<Record<string, unknown>>;
}

export async function mapEventBridge(
  payload: unknown,
  lookup: InstanceLookup,
  environment: string,
): Promise<SensorItem[]> {
  const event = payload as Record<string, unknown>;
  const source = String(event['source']);
  const detailType = String(event['detail-type']);
  const what = `${source} "${detailType}" ${String(event['id'])}`;
  const found = classify(event);
  if (typeof found === 'string') return [{ kind: 'ignored', what, reason: found }];
  if (found.instances.length === 0)
    return [{ kind: 'rejected', what, reason: 'it names no EC2 instance (i-…) to map to a host' }];
  const time = Date.parse(String(event['time']));
  if (!Number.isFinite(time))
    return [{ kind: 'rejected', what, reason: `time ${JSON.stringify(event['time'])} is not a date` }];
  const items: SensorItem[] = [];
  for (const instance of found.instances) {
    const host = await lookup(instance);
    if (host === undefined) {
      items.push({
        kind: 'rejected',
        what: `${what} about ${instance}`,
        reason: `instance ${instance} is not in the inventory (no host has instance_id ${instance})`,
      });
      continue;
    }
    const envelope: Envelope = {
      id: `aws-${idPart(String(event['id']))}-${instance}`,
      type: found.type,
      source,
      time: new Date(time).toISOString(),
      environment,
      service: host.service,
      host: host.id,
      data: { ...found.data, instance_id: instance, detail_type: detailType },
    };
    items.push({ kind: 'event', envelope });
  }
  return items;
}

/** What the event is, or why it acts on nothing. */
function classify(event: Record<string, unknown>): Found | string {
  const detail = event['detail'] as Record<string, unknown>;
  const source = String(event['source']);
  const detailType = String(event['detail-type']);
  if (source === 'aws.health' && detailType === 'AWS Health Event') {
    if (valueAt(detail, 'service') !== 'EC2')
      return `an AWS Health event about ${valueAt(detail, 'service') ?? '?'}, not EC2`;
    const category = valueAt(detail, 'eventTypeCategory');
    if (category !== 'scheduledChange')
      return `an AWS Health ${category ?? '?'} event, not a scheduled change`;
    if (valueAt(detail, 'statusCode') === 'closed') return 'the scheduled change is over (statusCode closed)';
    const code = valueAt(detail, 'eventTypeCode') ?? '';
    const entities = Array.isArray(detail['affectedEntities'])
      ? (detail['affectedEntities'] as unknown[])
      : [];
    const description = Array.isArray(detail['eventDescription'])
      ? valueAt((detail['eventDescription'] as unknown[])[0], 'latestDescription')
      : undefined;
    return {
      type: 'AWSScheduledEvent',
      instances: instancesIn([...entities.map((e) => valueAt(e, 'entityValue')), ...resources(event)]),
      data: {
        event_code: HEALTH_EVENT_CODES[code] ?? code.toLowerCase(),
        event_type_code: code,
        ...optional('status', valueAt(detail, 'statusCode')),
        ...optional('start_time', valueAt(detail, 'startTime')),
        ...optional('end_time', valueAt(detail, 'endTime')),
        ...optional('description', description?.slice(0, 1000)),
      },
    };
  }
  if (source === 'aws.ec2' && detailType === 'EC2 Instance State-change Notification') {
    const state = valueAt(detail, 'state') ?? '';
    if (state === 'pending' || state === 'running') return `the instance is ${state}: nothing to act on`;
    return {
      type: 'EC2InstanceStateChange',
      instances: instancesIn([valueAt(detail, 'instance-id')]),
      data: { state },
    };
  }
  if (source === 'aws.cloudwatch' && detailType === 'CloudWatch Alarm State Change') {
    const state = valueAt(detail, 'state.value') ?? '';
    if (state !== 'ALARM') return `the alarm is ${state || '?'}: nothing to act on`;
    const configuration = detail['configuration'] as Record<string, unknown> | undefined;
    const metrics = Array.isArray(configuration?.['metrics']) ? (configuration['metrics'] as unknown[]) : [];
    return {
      type: 'CloudWatchAlarm',
      instances: instancesIn(metrics.map((m) => valueAt(m, 'metricStat.metric.dimensions.InstanceId'))),
      data: {
        state,
        ...optional('alarm_name', valueAt(detail, 'alarmName')),
        ...optional('reason', valueAt(detail, 'state.reason')?.slice(0, 1000)),
      },
    };
  }
  return `no adapter for ${source} "${detailType}"`;
}

function resources(event: Record<string, unknown>): (string | undefined)[] {
  return Array.isArray(event['resources'])
    ? (event['resources'] as unknown[]).map((r) => (typeof r === 'string' ? r : undefined))
    : [];
}

/** Instance ids in ids or ARNs (`arn:aws:ec2:…:instance/i-…`), each once, in order. */
function instancesIn(values: readonly (string | undefined)[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    const id = value === undefined ? undefined : INSTANCE.exec(value)?.[1];
    if (id !== undefined && !out.includes(id)) out.push(id);
  }
  return out;
}

function optional(key: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [key]: value };
}
