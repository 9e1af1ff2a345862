/**
 * Sensor adapters: each turns a sensor's own payload (an Alertmanager webhook, a Datadog webhook
 * from the template the README gives, an AWS event delivered by EventBridge) into zero or more
 * event envelopes, each then judged like any event on the stream. What it cannot map (no service,
 * an unknown instance) is `rejected` with the reason; what needs no action (a resolved alert) is
 * `ignored`. Adapters are pure: the inventory is asked through `InstanceLookup` only.
 */
import type { InventoryHost } from '../inventory/types.js';

/** An envelope as a sensor produces it, before the event schema checks it. */
export interface Envelope {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly time: string;
  readonly environment: string;
  readonly service: string;
  readonly host?: string;
  readonly incident_key?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export type SensorItem =
  | { readonly kind: 'event'; readonly envelope: Envelope }
  /** Nothing to act on (a resolved alert, a state that needs nothing); said in the log and counted. */
  | { readonly kind: 'ignored'; readonly what: string; readonly reason: string }
  /** Could not be mapped: recorded as a rejected record with the reason. */
  | { readonly kind: 'rejected'; readonly what: string; readonly reason: string };

export type SensorName = 'alertmanager' | 'datadog' | 'eventbridge';

export const SENSOR_NAMES: readonly SensorName[] = ['alertmanager', 'datadog', 'eventbridge'];

/** The host an EC2 instance id is, from the inventory's `instance_id`s. */
export type InstanceLookup = (instanceId: string) => Promise<InventoryHost | undefined>;

/** Where a field of the envelope comes from: the first of `from` (dotted paths) that has a value. */
export interface FieldSource {
  readonly from: readonly string[];
  readonly default?: string;
}

/** The mapping of one sensor's payload to the envelope, from `sensors.<name>` in region.yaml. */
export interface SensorMapping {
  readonly service: FieldSource;
  readonly host: FieldSource;
  readonly environment: FieldSource;
  readonly type: FieldSource;
  /** Types renamed after they are read: `{ InstanceDown: HealthcheckDown }`. */
  readonly types: Readonly<Record<string, string>>;
}

export type SensorMappings = Readonly<Record<'alertmanager' | 'datadog', SensorMapping>>;
