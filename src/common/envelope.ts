/** The top-level fields of an event envelope, shared by the event schema and the template checker. */
export const ENVELOPE_FIELDS = [
  'id',
  'type',
  'source',
  'time',
  'region',
  'environment',
  'service',
  'host',
  'resource',
  'incident_key',
  'data',
] as const;

export type EnvelopeField = (typeof ENVELOPE_FIELDS)[number];
