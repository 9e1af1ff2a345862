/**
 * KPL aggregated records for tests: built by AWS Labs' own aggregator (`aws-kinesis-agg`, as a
 * producer using it would put them), and by hand from the format's spec (awslabs/
 * amazon-kinesis-producer, `aggregation-format.md`) for the aggregates no aggregator makes.
 */
import { createHash } from 'node:crypto';
import { aggregate } from 'aws-kinesis-agg';

export const MAGIC = Buffer.from('f3899ac2', 'hex');

export interface UserRecordInput {
  readonly partitionKey: string;
  readonly data: Uint8Array | string;
}

/** One Kinesis record's data (and the partition key the aggregator chose) holding `records`. */
export function aggregated(
  records: readonly UserRecordInput[],
): Promise<{ readonly partitionKey: string; readonly data: Buffer }> {
  return new Promise((resolve, reject) => {
    const encoded: { partitionKey: string; data: Buffer }[] = [];
    aggregate(
      records.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data) })),
      (record, done) => {
        encoded.push(record);
        done();
      },
      () => {
        const [one, ...more] = encoded;
        if (one === undefined || more.length > 0)
          reject(new Error(`the aggregator made ${encoded.length} Kinesis records, not one`));
        else resolve(one);
      },
      (error) => reject(error),
    );
  });
}

/** The same bytes with the checksum's last byte flipped. */
export function corruptChecksum(data: Uint8Array): Buffer {
  const copy = Buffer.from(data);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0xff;
  return copy;
}

/** Magic bytes, `body`, and the MD5 of `body`: an aggregate whose checksum matches whatever `body` is. */
export function framed(body: Uint8Array): Buffer {
  return Buffer.concat([MAGIC, body, createHash('md5').update(body).digest()]);
}

/** protobuf by hand: field `field` of wire type 2 (length-delimited). */
function bytesField(field: number, value: Uint8Array): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>>= 7;
  } while (v > 0);
  return Buffer.from(out);
}

/**
 * An `AggregatedRecord` as the spec writes it: `partition_key_table` (field 1), `records` (field 3),
 * each `Record` with `partition_key_index` (field 1, varint) and `data` (field 3) unless left out.
 */
export function aggregatedRecordBody(
  keys: readonly string[],
  records: readonly { readonly keyIndex: number; readonly data?: Uint8Array | string }[],
): Buffer {
  return Buffer.concat([
    ...keys.map((k) => bytesField(1, Buffer.from(k))),
    ...records.map((r) =>
      bytesField(
        3,
        Buffer.concat([
          varint(1 << 3),
          varint(r.keyIndex),
          ...(r.data === undefined ? [] : [bytesField(3, Buffer.from(r.data))]),
        ]),
      ),
    ),
  ]);
}
