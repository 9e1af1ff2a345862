/** Reading envelope fields out of a sensor's payload, by the mapping's dotted paths. */
import { splitHostPort } from '../common/host-port.js';
import type { FieldSource, SensorMapping, SensorMappings } from './types.js';

/** The defaults: what works without configuration for the common case (see the README). */
export const DEFAULT_MAPPINGS: SensorMappings = {
  alertmanager: {
    service: { from: ['labels.service', 'labels.job'] },
    host: { from: ['labels.host', 'labels.hostname', 'labels.instance'] },
    environment: { from: ['labels.environment', 'labels.env'], default: 'prod' },
    type: { from: ['labels.alertname'] },
    types: {},
  },
  datadog: {
    service: { from: ['tags.service'] },
    host: { from: ['hostname', 'tags.host'] },
    environment: { from: ['tags.env', 'tags.environment'], default: 'prod' },
    type: { from: ['event_type'], default: 'DatadogMonitor' },
    types: {},
  },
};

/** The value at a dotted path (`labels.service`), as a non-empty string, or `undefined`. */
export function valueAt(root: unknown, path: string): string | undefined {
  let at: unknown = root;
  for (const part of path.split('.')) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  if (typeof at === 'number' && Number.isFinite(at)) return String(at);
  return typeof at === 'string' && at.trim() !== '' ? at.trim() : undefined;
}

/** The first path of `source` with a value, else its default. */
export function read(root: unknown, source: FieldSource): string | undefined {
  for (const path of source.from) {
    const value = valueAt(root, path);
    if (value !== undefined) return value;
  }
  return source.default;
}

/**
 * A host as sensors name it: Prometheus' `instance` is `host:port` (`sms-api-2:9100`); the port
 * goes. A bracketed IPv6 address keeps its address (`[::1]:9100` → `::1`).
 */
export function hostOf(value: string): string {
  return splitHostPort(value)?.host ?? value;
}

/** The event type: read, then renamed by `types`. */
export function typeOf(root: unknown, mapping: SensorMapping): string | undefined {
  const read_ = read(root, mapping.type);
  return read_ === undefined ? undefined : (mapping.types[read_] ?? read_);
}

/** An event id part: what the envelope's id pattern allows (`[A-Za-z0-9._:-]`), other characters as `_`. */
export function idPart(text: string): string {
  return text.replace(/[^A-Za-z0-9._:-]/g, '_');
}

/** What a mapping says about where a field came from, for a rejection's reason. */
export function tried(source: FieldSource): string {
  return source.from.join(', ');
}

/** A mapping as region.yaml's `sensors.<name>` writes it: each field given replaces the default. */
export interface MappingOverrides {
  readonly service?: FieldSource;
  readonly host?: FieldSource;
  readonly environment?: FieldSource;
  readonly type?: FieldSource;
  readonly types?: Readonly<Record<string, string>>;
}

export function mappingsFrom(overrides: {
  readonly alertmanager: MappingOverrides;
  readonly datadog: MappingOverrides;
}): SensorMappings {
  const merge = (base: SensorMapping, given: MappingOverrides): SensorMapping => ({
    service: given.service ?? base.service,
    host: given.host ?? base.host,
    environment: given.environment ?? base.environment,
    type: given.type ?? base.type,
    types: { ...base.types, ...(given.types ?? {}) },
  });
  return {
    alertmanager: merge(DEFAULT_MAPPINGS.alertmanager, overrides.alertmanager),
    datadog: merge(DEFAULT_MAPPINGS.datadog, overrides.datadog),
  };
}
