/**
 * KPL de-aggregation (src/ingest/kpl.ts): an aggregate made by AWS Labs' own aggregator becomes one
 * record per user record, with its partition key and sub-sequence; a record that is not aggregated
 * passes unchanged; a broken aggregate is one record with the reason, never an exception.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { expand, isAggregated } from '../../../src/ingest/kpl.js';
import type { StreamRecord } from '../../../src/ingest/stream-record.js';
import { aggregated, aggregatedRecordBody, corruptChecksum, framed, MAGIC } from '../../helpers/kpl.js';

const kinesisRecord = (data: Uint8Array, partitionKey = 'outer'): StreamRecord => ({
  shardId: 'shardId-000000000001',
  sequenceNumber: '49650000000000000000000000000000000000000000000000000001',
  partitionKey,
  data,
  arrivalMs: 1_764_000_000_000,
});

const event = (host: string): string =>
  JSON.stringify({ id: `e-${host}`, type: 'NagiosHostAlarm', service: 'sms-api', host });

/** The one record a broken aggregate becomes: the Kinesis record as it came, with the reason. */
function rejectedWhole(data: Uint8Array): StreamRecord & { unreadable: string } {
  const record = kinesisRecord(data);
  const out = expand(record);
  assert.equal(out.length, 1, 'one record');
  const [one] = out;
  assert.ok(one?.unreadable !== undefined, 'it is unreadable');
  assert.deepEqual({ ...one, unreadable: undefined }, { ...record, unreadable: undefined }, 'as it came');
  assert.equal(one.subSequence, undefined, 'the whole Kinesis record: no sub-sequence');
  return { ...one, unreadable: one.unreadable };
}

describe('KPL de-aggregation', () => {
  test("an aggregate of 3 made by aws-kinesis-agg's aggregator: 3 records, each with its partition key and sub-sequence", async () => {
    const users = ['sms-api-1', 'sms-api-2', 'voice-gateway-1'].map((host) => ({
      partitionKey: `${host.replace(/-\d+$/, '')}/${host}`,
      data: event(host),
    }));
    const agg = await aggregated(users);
    assert.ok(isAggregated(agg.data));
    const record = kinesisRecord(agg.data, agg.partitionKey);
    const out = expand(record);
    assert.equal(out.length, 3);
    for (const [i, r] of out.entries()) {
      assert.equal(r.subSequence, i);
      assert.equal(r.partitionKey, users[i]?.partitionKey);
      assert.equal(Buffer.from(r.data).toString('utf8'), users[i]?.data);
      assert.equal(r.unreadable, undefined);
      // The Kinesis record's place in the stream: one sequence number for all of them.
      assert.equal(r.shardId, record.shardId);
      assert.equal(r.sequenceNumber, record.sequenceNumber);
      assert.equal(r.arrivalMs, record.arrivalMs);
    }
  });

  test('user records sharing a partition key each get it from the table', async () => {
    const agg = await aggregated([
      { partitionKey: 'sms-api/sms-api-1', data: event('a') },
      { partitionKey: 'sms-api/sms-api-1', data: event('b') },
    ]);
    assert.deepEqual(
      expand(kinesisRecord(agg.data)).map((r) => [r.partitionKey, r.subSequence]),
      [
        ['sms-api/sms-api-1', 0],
        ['sms-api/sms-api-1', 1],
      ],
    );
  });

  test('a record that is not aggregated passes unchanged', () => {
    for (const data of [
      Buffer.from(event('sms-api-1')),
      Buffer.alloc(0),
      Buffer.from([0xf3, 0x89]),
      Buffer.from([0xf3, 0x89, 0x9a, 0xc3, 1, 2, 3]),
    ]) {
      const record = kinesisRecord(data);
      const out = expand(record);
      assert.equal(out.length, 1);
      assert.equal(out[0], record, 'the very same record');
    }
  });

  test('a corrupt checksum: one rejection that says so', async () => {
    const agg = await aggregated([
      { partitionKey: 'a', data: event('a') },
      { partitionKey: 'b', data: event('b') },
      { partitionKey: 'c', data: event('c') },
    ]);
    const r = rejectedWhole(corruptChecksum(agg.data));
    assert.match(
      r.unreadable,
      /^KPL aggregated record: MD5 checksum does not match \(\d+ bytes: corrupt or truncated\)$/,
    );
  });

  test('a truncated aggregate: one rejection (its checksum cannot match)', async () => {
    const agg = await aggregated([
      { partitionKey: 'a', data: event('a') },
      { partitionKey: 'b', data: event('b') },
    ]);
    for (const cut of [1, 17, 40]) {
      const r = rejectedWhole(agg.data.subarray(0, agg.data.length - cut));
      assert.match(r.unreadable, /^KPL aggregated record: MD5 checksum does not match/, `cut ${cut}`);
    }
  });

  test('the magic bytes only, or too short for a checksum: one rejection that says truncated', () => {
    assert.equal(
      rejectedWhole(MAGIC).unreadable,
      'KPL aggregated record: truncated: 4 bytes, fewer than the 4 magic bytes and the 16-byte MD5 checksum',
    );
    assert.match(
      rejectedWhole(Buffer.concat([MAGIC, Buffer.alloc(15)])).unreadable,
      /^KPL aggregated record: truncated: 19 bytes/,
    );
  });

  test('a checksum that matches bytes that are no AggregatedRecord: one rejection, cannot be decoded', () => {
    const garbage = rejectedWhole(framed(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
    assert.match(garbage.unreadable, /^KPL aggregated record: the AggregatedRecord cannot be decoded: /);
    // A user record without its required data field.
    const noData = rejectedWhole(framed(aggregatedRecordBody(['a'], [{ keyIndex: 0 }])));
    assert.match(noData.unreadable, /cannot be decoded: missing required 'data'/);
  });

  test('an aggregate with no user records: one rejection, not silence', () => {
    assert.equal(
      rejectedWhole(framed(aggregatedRecordBody(['a'], []))).unreadable,
      'KPL aggregated record: holds no user records',
    );
  });

  test('a user record whose partition key index is not in the table: it alone is rejected, with its sub-sequence', () => {
    const body = aggregatedRecordBody(
      ['sms-api/sms-api-1'],
      [
        { keyIndex: 0, data: event('sms-api-1') },
        { keyIndex: 5, data: event('lost') },
        { keyIndex: 0, data: event('sms-api-1b') },
      ],
    );
    const out = expand(kinesisRecord(framed(body)));
    assert.deepEqual(
      out.map((r) => [r.subSequence, r.partitionKey, r.unreadable]),
      [
        [0, 'sms-api/sms-api-1', undefined],
        [
          1,
          'outer',
          "KPL aggregated record: user record 1 has no partition key (its index is not in the aggregate's table)",
        ],
        [2, 'sms-api/sms-api-1', undefined],
      ],
    );
    assert.equal(Buffer.from(out[1]?.data ?? []).toString(), event('lost'), 'its own bytes');
  });

  test('aggregates from the spec by hand and from the package decode alike', async () => {
    const users = [
      { partitionKey: 'k1', data: 'one' },
      { partitionKey: 'k2', data: 'two' },
    ];
    const byHand = framed(
      aggregatedRecordBody(
        ['k1', 'k2'],
        [
          { keyIndex: 0, data: 'one' },
          { keyIndex: 1, data: 'two' },
        ],
      ),
    );
    const view = (data: Uint8Array): unknown[] =>
      expand(kinesisRecord(data)).map((r) => [r.partitionKey, r.subSequence, Buffer.from(r.data).toString()]);
    assert.deepEqual(view(byHand), view((await aggregated(users)).data));
    // A view into a larger buffer (as the SDK may hand one over) reads only its own bytes.
    const padded = Buffer.concat([Buffer.from('xx'), byHand, Buffer.from('yy')]);
    assert.deepEqual(view(padded.subarray(2, 2 + byHand.length)), view(byHand));
  });
});
