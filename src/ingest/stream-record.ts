/** A record read from a shard, as the controller's pipeline receives it. */
export interface StreamRecord {
  readonly shardId: string;
  /** The Kinesis record's; the same for every user record of one KPL aggregate. */
  readonly sequenceNumber: string;
  /** The Kinesis record's; a user record of a KPL aggregate has its own, from the aggregate's table. */
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Kinesis' approximate arrival time, epoch ms. */
  readonly arrivalMs: number;
  /**
   * A user record of a KPL aggregated record: its 0-based index in the aggregate (the KPL's
   * "subsequence number"). Absent for a record that was not aggregated, and for an aggregate that
   * could not be unpacked (then `data` is the whole Kinesis record's).
   */
  readonly subSequence?: number;
  /**
   * Why the record could not be read as it came (a KPL aggregate that is truncated, fails its
   * checksum or cannot be decoded): the pipeline rejects it with this reason, without parsing it.
   */
  readonly unreadable?: string;
  /**
   * Which item of a sensor's payload (an alert of an Alertmanager webhook, an instance of an AWS
   * event) this is, 0-based; absent for a record that is one event.
   */
  readonly item?: number;
}

/** Handles one batch of a shard; resolves once every record has a durable outcome. */
export type BatchHandler = (shardId: string, records: readonly StreamRecord[]) => Promise<void>;
