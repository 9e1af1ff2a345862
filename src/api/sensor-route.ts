/**
 * `POST /v1/sensors/{alertmanager|datadog|eventbridge}`: a sensor's webhook, authenticated like
 * `POST /v1/events` (a `submit` token). The payload goes on the stream as it came, in a sensor
 * record with who submitted it (sensors/expand.ts); the node that reads it maps each alert to an
 * event (or records it as rejected, or ignores a resolved one). The answer previews that mapping
 * with the same adapters, so that a sender (and `curl`) sees at once what became of each alert.
 * AWS events are mapped through the inventory there, so the preview of one says only that it was taken.
 */
import { badRequest } from './errors.js';
import type { SubmittedBy } from '../events/schema.js';
import { mapAlertmanager } from '../sensors/alertmanager.js';
import { mapDatadog } from '../sensors/datadog.js';
import { knownServicesOnly, SENSOR_MAX_BYTES, SENSOR_SHAPE_LIMITS, sensorRecord } from '../sensors/expand.js';
import { checkShape } from '../events/shape.js';
import { idPart } from '../sensors/mapping.js';
import type { SensorMappings, SensorName } from '../sensors/types.js';
import { SENSOR_NAMES } from '../sensors/types.js';

/** The largest webhook body: room is left in the record for the wrapper. */
export const SENSOR_BODY_MAX_BYTES = SENSOR_MAX_BYTES - 2048;

export interface SensorPut {
  /** The record to put on the stream. */
  readonly bytes: Buffer;
  readonly partitionKey: string;
  /** What each item will be: `{kind: 'event', id}`, `{kind: 'ignored' | 'rejected', what, reason}`. */
  readonly items: readonly Record<string, unknown>[];
}

export function isSensorName(name: string): name is SensorName {
  return (SENSOR_NAMES as readonly string[]).includes(name);
}

export function sensorPut(
  name: SensorName,
  body: Buffer,
  stamp: SubmittedBy,
  mappings: SensorMappings,
  services: ReadonlySet<string>,
  nowMs: number,
): SensorPut {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`the ${name} payload is not JSON: ${(error as Error).message}`, [
      { path: '', message: 'not JSON' },
    ]);
  }
  const shape = checkShape(payload, SENSOR_SHAPE_LIMITS);
  if (shape !== undefined)
    throw badRequest(`the ${name} payload: ${shape.message}`, [{ path: shape.path, message: shape.message }]);
  const mapped =
    name === 'alertmanager'
      ? mapAlertmanager(payload, mappings.alertmanager, nowMs)
      : name === 'datadog'
        ? mapDatadog(payload, mappings.datadog, nowMs)
        : [];
  const items = knownServicesOnly(mapped, services);
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  // One record per webhook: the events of one Alertmanager group (or of one notification) stay
  // in order on one shard.
  const named = [p['groupKey'], p['id']].find((v): v is string => typeof v === 'string' && v !== '');
  const key = named ?? String(nowMs);
  return {
    bytes: Buffer.from(sensorRecord(name, payload, nowMs, stamp)),
    partitionKey: `${name}/${idPart(key).slice(0, 200)}`,
    items: items.map((item) =>
      item.kind === 'event'
        ? { kind: 'event', id: item.envelope.id }
        : { kind: item.kind, what: item.what, reason: item.reason },
    ),
  };
}
