/** A stream record that was not an event (or could not be processed): kept, listed, never lost. */
export interface RejectedRecord {
  readonly shard: string;
  readonly sequence: string;
  /** A user record of a KPL aggregated record: its 0-based index in the aggregate (its Kinesis record's sequence is `sequence`). */
  readonly sub_sequence?: number;
  /** The item of a sensor's payload that was rejected (an alert of a webhook), 0-based. */
  readonly item?: number;
  /** The sensor whose payload it was (`alertmanager`, `datadog`, `eventbridge`). */
  readonly sensor?: string;
  readonly code: string;
  readonly message: string;
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  readonly size: number;
  /** The first bytes, base64. */
  readonly raw: string;
  readonly node: string;
  readonly at: string;
}
