/**
 * The shard reader against kinesis-local and a real redis-server: while a batch waits for its
 * slowest event, the next batch is read and handed over (its events are not held up by it); the
 * checkpoint moves in order, past a batch only once it and every batch before it are handled; and
 * a reader stopped with batches in hand checkpoints what was handled and stops.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisKeys } from '../../src/common/keys.js';
import { ensureStream, kinesisClient } from '../../src/ingest/kinesis-client.js';
import { ShardLeases } from '../../src/ingest/shard-leases.js';
import { ShardReader } from '../../src/ingest/shard-reader.js';
import type { StreamRecord } from '../../src/ingest/stream-record.js';
import { startKinesisLocal } from '../../src/sim/kinesis-local.js';
import type { KinesisLocalProcess } from '../../src/sim/kinesis-local.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const SHARD = 'shardId-000000000000';

describe('shard reader', { timeout: 120_000 }, () => {
  let kinesis: KinesisLocalProcess;
  let server: RedisProcess;
  let client: KinesisClient;
  let redis: Redis;
  let streams = 0;

  before(async () => {
    [kinesis, server] = await Promise.all([startKinesisLocal(), startRedis()]);
    client = kinesisClient({ endpoint: kinesis.endpoint, region: 'us-east-1' });
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    client.destroy();
    await Promise.all([kinesis.stop(), server.stop()]);
  });

  /**
   * A stream of one shard, this node's lease on it, a way to put an event about a host, and a
   * reader of the shard whose handler is given each batch's event ids.
   */
  async function setUp(): Promise<{
    stream: string;
    leases: ShardLeases;
    put: (id: string, host: string) => Promise<string>;
    read: (handle: (ids: string[]) => Promise<void>, kinesis?: KinesisClient) => ShardReader;
  }> {
    const stream = `reader-${process.pid}-${streams++}`;
    await ensureStream(client, stream, 1);
    const leases = new ShardLeases(redis, new RedisKeys(stream), 'a', 30_000);
    assert.equal(await leases.acquire(SHARD), true);
    /** Puts the record; its sequence number. */
    const put = async (id: string, host: string): Promise<string> =>
      (
        await client.send(
          new PutRecordCommand({ StreamName: stream, PartitionKey: host, Data: Buffer.from(id) }),
        )
      ).SequenceNumber ?? '';
    const read = (handle: (ids: string[]) => Promise<void>, kinesis = client): ShardReader =>
      new ShardReader({
        kinesis,
        stream,
        shardId: SHARD,
        leases,
        log: pino({ level: 'silent' }),
        pollMs: 20,
        handle: (_shard, records: readonly StreamRecord[]) =>
          handle(records.map((r) => Buffer.from(r.data).toString())),
      });
    return { stream, leases, put, read };
  }

  test('the next batch is handed over while one waits for its slowest event; the checkpoint moves in order', async () => {
    const { leases, put, read } = await setUp();
    const handedOver: string[][] = [];
    const finished: string[] = [];
    let releaseSlow: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    const reader = read(async (ids) => {
      handedOver.push(ids);
      if (ids.includes('slow')) await slow;
      finished.push(...ids);
    });
    try {
      await put('slow', 'host-1');
      await waitFor(
        'the first batch',
        () => Promise.resolve(handedOver.length === 1 ? true : undefined),
        20_000,
      );
      const first = await leases.checkpointOf(SHARD);
      const quick = await put('quick', 'host-2');
      // Handed over and handled while the slow one still waits.
      await waitFor(
        'the next batch handled',
        () => Promise.resolve(finished.includes('quick') ? true : undefined),
        20_000,
      );
      assert.equal(finished.includes('slow'), false);
      assert.deepEqual(handedOver, [['slow'], ['quick']]);
      // Its checkpoint waits for the batch before it.
      assert.equal(await leases.checkpointOf(SHARD), first, 'no checkpoint past a batch in hand');
      releaseSlow();
      await waitFor(
        'the checkpoint past both',
        async () => ((await leases.checkpointOf(SHARD)) === quick ? true : undefined),
        20_000,
      );
    } finally {
      releaseSlow();
      reader.stop();
      assert.equal(await reader.done, 'stopped');
    }
  });

  test('the lease lost with two batches in hand: neither later batch is checkpointed, nothing more is read, the reader ends lease_lost', async () => {
    const { stream, leases, put, read } = await setUp();
    const handedOver: string[] = [];
    let releaseSlow: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    let attempts = 0;
    const reader = read(async (ids) => {
      handedOver.push(...ids);
      if (ids.includes('slow')) await slow;
      // The later batch keeps failing (Redis away, say): it is retried until the reading ends.
      if (ids.includes('failing')) {
        attempts++;
        throw new Error('Redis did not answer');
      }
    });
    try {
      await put('slow', 'host-1');
      await waitFor('slow', () => Promise.resolve(handedOver.includes('slow') ? true : undefined), 20_000);
      await put('failing', 'host-2');
      await waitFor(
        'a retry of the later batch',
        () => Promise.resolve(attempts >= 2 ? true : undefined),
        20_000,
      );
      // Another node takes the shard over (this one's lease expired, say).
      assert.equal(await leases.release(SHARD), true);
      const other = new ShardLeases(redis, new RedisKeys(stream), 'b', 30_000);
      assert.equal(await other.acquire(SHARD), true);
      await put('after', 'host-3');
      releaseSlow();
      // The failing batch stops its retries too: the reader ends.
      assert.equal(await reader.done, 'lease_lost');
      assert.equal(
        await other.checkpointOf(SHARD),
        undefined,
        'no checkpoint written by the node that lost it',
      );
      assert.equal(handedOver.includes('after'), false, 'nothing handed over after the lease was lost');
    } finally {
      releaseSlow();
      reader.stop();
    }
  });

  test('at most two batches in hand: nothing more is read before the oldest is handled', async () => {
    const { leases, put, read } = await setUp();
    // The reader's own GetRecords calls, counted on its (real) client.
    const reading = kinesisClient({ endpoint: kinesis.endpoint, region: 'us-east-1' });
    let reads = 0;
    reading.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'GetRecordsCommand') reads++;
        return next(args);
      },
      { step: 'initialize', name: 'countReads' },
    );
    const handedOver: string[] = [];
    const gates = new Map<string, () => void>();
    const reader = read((ids) => {
      handedOver.push(...ids);
      return new Promise<void>((resolve) => gates.set(ids[0]!, resolve));
    }, reading);
    try {
      await put('one', 'host-1');
      await waitFor('one', () => Promise.resolve(gates.has('one') ? true : undefined), 20_000);
      await put('two', 'host-2');
      await waitFor('two', () => Promise.resolve(gates.has('two') ? true : undefined), 20_000);
      const readsThen = reads;
      await put('three', 'host-3');
      // Ten of the reader's poll intervals: free, it would have read `three` by now.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(reads, readsThen, 'no GetRecords while two batches are in hand');
      assert.deepEqual(handedOver, ['one', 'two']);
      gates.get('one')?.();
      await waitFor(
        'three handed over',
        () => Promise.resolve(gates.has('three') ? true : undefined),
        20_000,
      );
      assert.deepEqual(handedOver, ['one', 'two', 'three']);
    } finally {
      reader.stop();
      for (const open of gates.values()) open();
      assert.equal(await reader.done, 'stopped');
      reading.destroy();
    }
    // What was handled is checkpointed on the way out.
    assert.ok((await leases.checkpointOf(SHARD)) !== undefined);
  });
});
