/**
 * The top-level fields of an event envelope as a sensor writes them, which workflow templates may
 * refer to (`{{ event.host }}`). Not `submitted_by`, the REST API's stamp of who submitted it
 * (events/schema.ts): what a remediation does must not depend on who reported the problem.
 */
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
