import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { ensureStream, kinesisClient } from '../../src/ingest/kinesis-client.js';
import { startKinesisLocal } from '../../src/sim/kinesis-local.js';
import type { KinesisLocalProcess } from '../../src/sim/kinesis-local.js';
import { freePort } from '../../src/sim/ports.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';

/** Polls `condition` until it holds; fails with `what` at the deadline. */
async function eventually(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await delay(50);
  }
}

/** The fail-fast settings from STACK-NOTES: a dead server fails commands instead of queueing them. */
function redisClient(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 300,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Local addresses on which `pid` listens for TCP, from `ss -ltnp` (needs iproute2). */
async function listeningAddresses(pid: number): Promise<string[]> {
  const { stdout } = await promisify(execFile)('ss', ['-Hltnp']);
  return stdout
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3] ?? '');
}

describe('freePort', () => {
  test('below: ports in [10000, below), distinct, bindable', async () => {
    const ports = [];
    for (let i = 0; i < 20; i += 1) {
      ports.push(await freePort({ below: 32_768 }));
    }
    assert.ok(
      ports.every((port) => port >= 10_000 && port < 32_768),
      String(ports),
    );
    assert.equal(new Set(ports).size, ports.length);
  });

  test('rejects a bound below the range', async () => {
    await assert.rejects(freePort({ below: 9_000 }), RangeError);
  });
});

describe('startRedis', () => {
  let server: RedisProcess | undefined;
  let client: Redis | undefined;
  after(async () => {
    client?.disconnect();
    await server?.stop();
  });

  test('answers PING, fails fast when killed, answers again after restart', async () => {
    server = await startRedis();
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    client = redisClient(server.url);
    await client.connect();
    assert.equal(await client.ping(), 'PONG');
    assert.deepEqual(await listeningAddresses(server.pid), [`127.0.0.1:${server.port}`]);

    const firstPid = server.pid;
    server.kill('SIGKILL');
    await eventually('the killed server to be gone', () => Promise.resolve(!alive(firstPid)));
    await assert.rejects(client.ping());

    await server.restart();
    assert.notEqual(server.pid, firstPid);
    const reconnected = client;
    await eventually('the client to reconnect', async () => {
      try {
        return (await reconnected.ping()) === 'PONG';
      } catch {
        return false;
      }
    });

    const pid = server.pid;
    await server.stop();
    assert.equal(alive(pid), false);
    await server.stop(); // twice is fine
  });
});

describe('startRedis without the binary', () => {
  test('rejects with how to install it or to use REDIS_URL', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await assert.rejects(startRedis(), /redis-server is missing.*apt-get install redis-server.*REDIS_URL/s);
    } finally {
      if (path === undefined) {
        delete process.env['PATH'];
      } else {
        process.env['PATH'] = path;
      }
    }
  });
});

describe('startKinesisLocal', () => {
  let emulator: KinesisLocalProcess | undefined;
  let kinesis: KinesisClient | undefined;
  after(async () => {
    kinesis?.destroy();
    await emulator?.stop();
  });

  test('listens on loopback only; a record put is read back', async () => {
    emulator = await startKinesisLocal();
    assert.equal(emulator.endpoint, `http://127.0.0.1:${emulator.port}`);
    assert.ok(emulator.port < 32_768);
    const addresses = await listeningAddresses(emulator.pid);
    assert.equal(addresses.length, 2, String(addresses)); // the plain port and the TLS port
    assert.ok(
      addresses.every((address) => address.startsWith('127.0.0.1:')),
      String(addresses),
    );

    kinesis = kinesisClient({ endpoint: emulator.endpoint, region: 'us-east-1' });
    const stream = `launchers-${randomUUID()}`;
    await ensureStream(kinesis, stream, 2);
    await ensureStream(kinesis, stream, 2); // an existing stream is fine

    const put = await kinesis.send(
      new PutRecordCommand({ StreamName: stream, PartitionKey: 'host-1', Data: Buffer.from('hello') }),
    );
    const iterator = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: put.ShardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: put.SequenceNumber,
      }),
    );
    const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator }));
    assert.equal(got.Records?.length, 1);
    assert.equal(got.Records?.[0]?.SequenceNumber, put.SequenceNumber);
    assert.equal(Buffer.from(got.Records?.[0]?.Data ?? []).toString(), 'hello');

    kinesis.destroy(); // an open keep-alive connection would hold up the emulator's shutdown
    const pid = emulator.pid;
    const stopping = Date.now();
    await emulator.stop();
    assert.ok(Date.now() - stopping < 2_000, 'stopped by SIGTERM, not by the SIGKILL after 3 s');
    assert.equal(alive(pid), false);
  });
});
