/**
 * KPL aggregation: a producer using the Kinesis Producer Library (or `aws-kinesis-agg`) packs many
 * user records into one Kinesis record: the magic bytes `F3 89 9A C2`, a protobuf
 * `AggregatedRecord` (a partition key table and the user records, each with its key's index and
 * its data), then the MD5 of the protobuf bytes (awslabs/amazon-kinesis-producer,
 * `aggregation-format.md`). Each user record is an event of its own, with its own partition key.
 *
 * The protobuf is decoded by AWS Labs' own de-aggregator (`aws-kinesis-agg`). Around it, what it
 * leaves unsaid is checked here, so that every broken aggregate has a reason an operator can act
 * on: a record too short to hold a checksum, a checksum that does not match (checked before
 * decoding, where the package decodes first and reports a truncated record as a protobuf error), no
 * user records at all (the package hands back none, silently), and a user record whose partition
 * key index is not in the table (the package hands it back without a key).
 *
 * Never throws: what cannot be unpacked comes back as a record with `unreadable` set, which the
 * pipeline rejects like a record that is not an event, so a broken aggregate never stops its shard.
 */
import { createHash } from 'node:crypto';
import { deaggregate } from 'aws-kinesis-agg';
import type { UserRecord } from 'aws-kinesis-agg';
import type { StreamRecord } from './stream-record.js';

/** The first bytes of every KPL aggregated record. */
export const KPL_MAGIC: Uint8Array = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
const CHECKSUM_BYTES = 16;
const PREFIX = 'KPL aggregated record';

export function isAggregated(data: Uint8Array): boolean {
  return data.byteLength >= KPL_MAGIC.byteLength && KPL_MAGIC.every((b, i) => data[i] === b);
}

/**
 * One Kinesis record as the pipeline's records: itself, unchanged, when it is not aggregated; one
 * record per user record (its data, its partition key, its 0-based sub-sequence, the Kinesis
 * record's shard, sequence number and arrival) when it is; one `unreadable` record carrying the
 * whole Kinesis record when the aggregate is broken. A user record that cannot be read (no
 * partition key) is an `unreadable` record with its sub-sequence, and its siblings go on.
 */
export function expand(record: StreamRecord): StreamRecord[] {
  if (!isAggregated(record.data)) return [record];
  const broken = (why: string): StreamRecord[] => [{ ...record, unreadable: `${PREFIX}: ${why}` }];
  const data = Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength);
  const size = data.byteLength;
  if (size < KPL_MAGIC.byteLength + CHECKSUM_BYTES)
    return broken(
      `truncated: ${size} bytes, fewer than the ${KPL_MAGIC.byteLength} magic bytes and the ${CHECKSUM_BYTES}-byte MD5 checksum`,
    );
  const body = data.subarray(KPL_MAGIC.byteLength, size - CHECKSUM_BYTES);
  const checksum = data.subarray(size - CHECKSUM_BYTES);
  // Before decoding: bytes that fail their checksum are not worth a parser's time, and the reason
  // is the right one (a truncated aggregate is one whose checksum does not match).
  if (!createHash('md5').update(body).digest().equals(checksum))
    return broken(`MD5 checksum does not match (${size} bytes: corrupt or truncated)`);

  const decoded = unpack(data, record);
  if (typeof decoded === 'string') return broken(`the AggregatedRecord cannot be decoded: ${decoded}`);
  if (decoded.length === 0) return broken('holds no user records');
  return decoded.map((user, i): StreamRecord => {
    const subSequence = user.subSequenceNumber ?? i;
    if ('error' in user)
      return { ...record, subSequence, unreadable: `${PREFIX}: user record ${subSequence}: ${user.error}` };
    const userData = Buffer.from(user.data, 'base64');
    if (typeof user.partitionKey !== 'string')
      return {
        ...record,
        subSequence,
        data: userData,
        unreadable: `${PREFIX}: user record ${subSequence} has no partition key (its index is not in the aggregate's table)`,
      };
    return { ...record, subSequence, partitionKey: user.partitionKey, data: userData };
  });
}

/** A user record the package could not hand over (its data is the whole Kinesis record's). */
interface Undecodable {
  readonly subSequenceNumber: number | undefined;
  readonly error: string;
}

/** The user records in order (each, or why it cannot be had), or why none can be had. */
function unpack(data: Buffer, record: StreamRecord): (UserRecord | Undecodable)[] | string {
  const users: (UserRecord | Undecodable)[] = [];
  let failure: string | undefined;
  let finished = false;
  try {
    // The callbacks are called synchronously: the first once per user record, the second with the
    // error of a user record that could not be handed over, and once more at the end (or with the
    // error that stopped the whole record).
    deaggregate(
      // The SDK v2 shape (data in base64): the one the package's types describe, in and out.
      {
        data: data.toString('base64'),
        partitionKey: record.partitionKey,
        sequenceNumber: record.sequenceNumber,
      },
      true,
      (error, user) => {
        if (error) failure ??= message(error);
        else if (user !== undefined) users.push(user);
      },
      (error, user) => {
        if (!error) finished = true;
        else if (user === undefined) failure ??= message(error);
        else users.push({ subSequenceNumber: user.subSequenceNumber, error: message(error) });
      },
    );
  } catch (error) {
    return message(error);
  }
  if (failure !== undefined) return failure;
  if (!finished) return 'the de-aggregator did not finish';
  return users;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
