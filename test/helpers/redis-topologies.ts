/**
 * Real Redis topologies for the tests that need one: a Redis Cluster of primaries made with
 * `redis-cli --cluster create`, and Sentinel (a primary, its replica and one sentinel), every
 * process a private `redis-server` on loopback, stopped by `stop()`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

async function ask<T>(port: number, what: (r: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await what(client);
  } finally {
    client.disconnect();
  }
}

/** `INFO <section>` of the server on 127.0.0.1:`port`. */
export async function info(port: number, section: string): Promise<string> {
  return ask(port, (r) => r.info(section));
}

/** Makes the server at `port` a replica of the one at `primaryPort` (both on 127.0.0.1). */
export async function replicaOf(port: number, primaryPort: number): Promise<void> {
  await ask(port, (r) => r.call('REPLICAOF', '127.0.0.1', String(primaryPort)));
}

/** Whether a write on the server at `port` is acknowledged by one replica within a second (`WAIT 1 1000`). */
export async function acknowledgedWrite(port: number): Promise<boolean> {
  return ask(port, async (r) => {
    await r.set('lz-test:replica-ack', String(Date.now()));
    return (await r.wait(1, 1000)) >= 1;
  });
}

export interface RedisClusterProcesses {
  readonly servers: readonly RedisProcess[];
  /** `127.0.0.1:port` of each primary, for `redis.nodes`. */
  readonly addresses: readonly string[];
  stop(): Promise<void>;
}

/** `primaries` cluster-enabled servers, joined into one cluster that covers every slot. */
export async function startRedisCluster(primaries = 3): Promise<RedisClusterProcesses> {
  const servers: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < primaries; i++)
      servers.push(
        await startRedis({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes'], { timeout: 30_000 });
    for (const server of servers)
      await waitFor(
        `cluster state ok on ${server.port}`,
        async () =>
          (await ask(server.port, (r) => r.cluster('INFO'))).includes('cluster_state:ok') ? true : undefined,
        30_000,
        100,
      );
    return { servers, addresses, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface SentinelProcesses {
  primary: RedisProcess;
  readonly replica: RedisProcess;
  readonly sentinel: RedisProcess;
  /** The master group name the sentinel watches. */
  readonly master: string;
  /** `127.0.0.1:port` of the sentinel, for `redis.sentinels`. */
  readonly sentinelAddress: string;
  /** The port of the server the sentinel names as primary now. */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A primary, one replica of it and one sentinel (quorum 1) that fails over 1 s after the primary
 * stops answering.
 */
export async function startSentinelSetup(master = 'lzmaster'): Promise<SentinelProcesses> {
  const all: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(all.map((s) => s.stop()));
  };
  try {
    const primary = await startRedis();
    all.push(primary);
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    all.push(replica);
    await waitFor(
      'the replica to be in sync',
      async () =>
        (await info(replica.port, 'replication')).includes('master_link_status:up') ? true : undefined,
      20_000,
      50,
    );
    const sentinel = await startRedis({
      configFile: [
        `sentinel monitor ${master} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${master} 1000`,
        `sentinel failover-timeout ${master} 4000`,
        `sentinel parallel-syncs ${master} 1`,
        '',
      ].join('\n'),
      args: ['--sentinel'],
    });
    all.push(sentinel);
    // The sentinel has found the replica (through the primary's INFO) before anything relies on it.
    await waitFor(
      'the sentinel to know the replica',
      async () =>
        (await ask(sentinel.port, (r) => r.call('SENTINEL', 'REPLICAS', master) as Promise<unknown[]>))
          .length > 0
          ? true
          : undefined,
      30_000,
      100,
    );
    const currentPrimaryPort = async (): Promise<number> => {
      const reply = (await ask(sentinel.port, (r) =>
        r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', master),
      )) as string[];
      return Number(reply[1]);
    };
    return {
      primary,
      replica,
      sentinel,
      master,
      sentinelAddress: `127.0.0.1:${sentinel.port}`,
      currentPrimaryPort,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
