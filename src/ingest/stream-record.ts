/** A record read from a shard, as the controller's pipeline receives it. */
export interface StreamRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Kinesis' approximate arrival time, epoch ms. */
  readonly arrivalMs: number;
  /**
   * Which item of a sensor's payload (an alert of an Alertmanager webhook, an instance of an AWS
   * event) this is, 0-based; absent for a record that is one event.
   */
  readonly item?: number;
}

/** Handles one batch of a shard; resolves once every record has a durable outcome. */
export type BatchHandler = (shardId: string, records: readonly StreamRecord[]) => Promise<void>;
