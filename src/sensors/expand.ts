/**
 * Recognising a sensor's payload on the stream, and expanding it into its items: a record the REST
 * API wrote for a sensor webhook (`{ "lazarus_sensor": {name, received_at, submitted_by}, "payload":
 * … }`), or an AWS event EventBridge put on the stream as it is. Anything else is not a sensor's
 * and goes on as an event envelope. Never throws for a bad payload: it comes back rejected.
 */
import type { SubmittedBy } from '../events/schema.js';
import { checkShape, SHAPE_LIMITS } from '../events/shape.js';
import { mapAlertmanager } from './alertmanager.js';
import { mapDatadog } from './datadog.js';
import { isEventBridgeEvent, mapEventBridge } from './eventbridge.js';
import type { InstanceLookup, SensorItem, SensorMappings, SensorName } from './types.js';
import { SENSOR_NAMES } from './types.js';

/** The wrapper key of a sensor record (never a key of an event envelope, which is closed). */
export const SENSOR_RECORD_KEY = 'lazarus_sensor';

/**
 * A sensor record is at most this large: an Alertmanager webhook of a large group is bigger than an
 * event (64 KiB), and Alertmanager's own PagerDuty receiver stops at 512,000 bytes. Kinesis takes 1 MiB.
 */
export const SENSOR_MAX_BYTES = 512_000;

/** Shape limits of a sensor payload: an event's, with room for a webhook of up to 256 alerts. */
export const SENSOR_SHAPE_LIMITS = { ...SHAPE_LIMITS, maxNodes: 32_768 };

export interface SensorContext {
  readonly mappings: SensorMappings;
  readonly lookup: InstanceLookup;
  /** The environment of AWS events (the inventory does not say). */
  readonly awsEnvironment: string;
  /** When the record reached the stream, epoch ms (an alert's event time when its payload has none). */
  readonly arrivalMs: number;
  /** The region's services: an alert about another one is rejected (its label is wrong, or it never opted in). */
  readonly services: ReadonlySet<string>;
}

/** Items whose event is about a service the region does not have become rejected ones. */
export function knownServicesOnly(items: readonly SensorItem[], services: ReadonlySet<string>): SensorItem[] {
  return items.map((item) =>
    item.kind !== 'event' || services.has(item.envelope.service)
      ? item
      : {
          kind: 'rejected',
          what: `${item.envelope.source} event ${item.envelope.id}`,
          reason: `service "${item.envelope.service}" is not a service of this region (services.yaml)`,
        },
  );
}

export interface Expansion {
  readonly sensor: SensorName;
  readonly items: readonly SensorItem[];
  /** Who submitted the webhook through the REST API; stamped on each of its events. */
  readonly submittedBy?: SubmittedBy;
}

/** The JSON text of the record the REST API puts on the stream for a sensor webhook. */
export function sensorRecord(
  name: SensorName,
  payload: unknown,
  receivedMs: number,
  submittedBy: SubmittedBy,
): string {
  return JSON.stringify({
    [SENSOR_RECORD_KEY]: { name, received_at: new Date(receivedMs).toISOString(), submitted_by: submittedBy },
    payload,
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** `undefined`: not a sensor's payload (the caller parses it as an event). */
export async function expandRecord(data: Uint8Array, context: SensorContext): Promise<Expansion | undefined> {
  // Cheap before anything is parsed: an envelope names neither key.
  // A view of the record's bytes, not a copy: every record of the stream passes here.
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, SENSOR_MAX_BYTES));
  if (!head.includes(SENSOR_RECORD_KEY) && !head.includes('"detail-type"')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const wrapper = record[SENSOR_RECORD_KEY];
  if (wrapper === undefined && !isEventBridgeEvent(record)) return undefined;
  const sensor: SensorName =
    wrapper === undefined
      ? 'eventbridge'
      : (String((wrapper as Record<string, unknown> | null)?.['name']) as SensorName);
  const reject = (reason: string): Expansion => ({
    sensor: SENSOR_NAMES.includes(sensor) ? sensor : 'alertmanager',
    items: [{ kind: 'rejected', what: `${sensor} payload`, reason }],
  });
  if (data.byteLength > SENSOR_MAX_BYTES)
    return reject(`it is ${data.byteLength} bytes; the limit is ${SENSOR_MAX_BYTES}`);
  const shape = checkShape(record, SENSOR_SHAPE_LIMITS);
  if (shape !== undefined) return reject(shape.message);
  if (wrapper === undefined)
    return {
      sensor,
      items: knownServicesOnly(
        await mapEventBridge(record, context.lookup, context.awsEnvironment),
        context.services,
      ),
    };
  if (!SENSOR_NAMES.includes(sensor))
    return reject(`unknown sensor ${JSON.stringify(sensor)}; sensors: ${SENSOR_NAMES.join(', ')}`);
  const w = wrapper as Record<string, unknown>;
  const received = typeof w['received_at'] === 'string' ? Date.parse(w['received_at']) : Number.NaN;
  const at = Number.isFinite(received) ? received : context.arrivalMs;
  const stamp = w['submitted_by'] as SubmittedBy | undefined;
  const payload = record['payload'];
  const items =
    sensor === 'alertmanager'
      ? mapAlertmanager(payload, context.mappings.alertmanager, at)
      : sensor === 'datadog'
        ? mapDatadog(payload, context.mappings.datadog, at)
        : await mapEventBridge(payload, context.lookup, context.awsEnvironment);
  return {
    sensor,
    items: knownServicesOnly(items, context.services),
    ...(stamp === undefined ? {} : { submittedBy: stamp }),
  };
}
