/**
 * A node that cannot start says so with its state: `ControllerNode.start` rejects with
 * `LZ_ERR_NODE_START`, state `failed`, the cause named, and closes what it had opened (its peer
 * listener and its Redis connection), so that a supervisor restarting it finds the port free.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import type { Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { join } from 'node:path';
import { writeRegionCertificates } from '../../src/cluster/certs.js';
import { PEER_SERVICE_NAME } from '../../src/cluster/peer-server.js';
import { expectPeer, PeerIdentity } from '../../src/cluster/tls.js';
import { ControllerErrorCodes } from '../../src/controller/errors.js';
import { ControllerNode, NodeStartError } from '../../src/controller/node.js';
import { freePort } from '../../src/sim/ports.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { REPO, copyConfig } from '../helpers/config-copy.js';
import type { ConfigCopy } from '../helpers/config-copy.js';
import { hasIpv6Loopback } from '../helpers/ipv6.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });
const run = promisify(execFile);

/** `lazarus health` as a real process; resolves with its exit code and output, whatever the code. */
async function lazarusHealth(
  config: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'src', 'cli', 'main.ts'), 'health', '--config', config, ...args],
      { env: { ...process.env, ...env } },
    );
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('a node that cannot start', () => {
  let redisServer: RedisProcess;
  let copy: ConfigCopy;
  let grpcPort: number;
  let apiPort: number;

  before(async () => {
    redisServer = await startRedis();
    copy = await copyConfig();
    grpcPort = await freePort();
    apiPort = await freePort();
    await copy.edit('deploy/local/region.yaml', 'redis://127.0.0.1:6379/0', redisServer.url);
    await copy.edit('deploy/local/region.yaml', '"127.0.0.1:50151"', `"127.0.0.1:${grpcPort}"`);
    await copy.edit('deploy/local/region.yaml', '"127.0.0.1:8181"', `"127.0.0.1:${apiPort}"`);
    await writeRegionCertificates(join(copy.dir, 'certs'), 'local-1', [
      { id: 'a', grpc: `127.0.0.1:${grpcPort}` },
    ]);
  });
  after(async () => {
    await copy.remove();
    await redisServer.stop();
  });

  test('an id that is not in region.yaml: failed, with the nodes it has', async () => {
    await assert.rejects(
      ControllerNode.start({ configDir: copy.dir, nodeId: 'z', log }),
      (error: unknown) => {
        assert.ok(error instanceof NodeStartError);
        assert.equal(error.code, ControllerErrorCodes.NODE_START);
        assert.equal(error.state, 'failed');
        assert.match(error.message, /node z could not start: it is not in .*; nodes: a, b, c/);
        return true;
      },
    );
  });

  test('its certificate is missing: failed, naming the file and the command that writes it', async () => {
    await copy.edit('deploy/local/region.yaml', 'cert: certs/{node}.pem', 'cert: certs/missing-{node}.pem');
    try {
      await assert.rejects(
        ControllerNode.start({ configDir: copy.dir, nodeId: 'a', log }),
        (error: unknown) => {
          assert.ok(error instanceof NodeStartError);
          assert.match(
            error.message,
            /peers\.tls\.cert: .*missing-a\.pem cannot be read \(ENOENT\); `lazarus certs/,
          );
          return true;
        },
      );
    } finally {
      await copy.edit('deploy/local/region.yaml', 'cert: certs/missing-{node}.pem', 'cert: certs/{node}.pem');
    }
  });

  test('its API certificate cannot be used: failed, naming the api.tls field and the file', async () => {
    const plain = '  protect_reads: false\n';
    const withTls = (tls: string): string => `${plain}  tls: ${tls}\n`;
    const startsWith = async (tls: string, expected: RegExp): Promise<void> => {
      await copy.edit('deploy/local/region.yaml', plain, withTls(tls));
      try {
        await assert.rejects(
          ControllerNode.start({ configDir: copy.dir, nodeId: 'a', log }),
          (error: unknown) => {
            assert.ok(error instanceof NodeStartError);
            assert.equal(error.code, ControllerErrorCodes.NODE_START);
            assert.equal(error.state, 'failed');
            assert.match(error.message, expected);
            return true;
          },
        );
      } finally {
        await copy.edit('deploy/local/region.yaml', withTls(tls), plain);
      }
    };
    await startsWith(
      '{ cert: "certs/missing-{node}.pem", key: "certs/{node}-key.pem" }',
      /^node a could not start: api\.tls\.cert: \/.*\/certs\/missing-a\.pem cannot be read \(ENOENT\)$/,
    );
    await startsWith(
      '{ cert: "certs/{node}.pem", key: "certs/ca.pem" }',
      /^node a could not start: api\.tls\.key: \/.*\/certs\/ca\.pem is not the key of \/.*\/certs\/a\.pem/,
    );
    await startsWith(
      '{ cert: "certs/{node}.pem", key_env: LAZARUS_TEST_UNSET_API_KEY }',
      /^node a could not start: api\.tls\.key_env: \$LAZARUS_TEST_UNSET_API_KEY is empty/,
    );
  });

  test('its API port is taken: failed, the cause named, the peer port and the Redis connection closed again', async () => {
    const squatter = await listen(apiPort);
    try {
      await assert.rejects(
        ControllerNode.start({ configDir: copy.dir, nodeId: 'a', log }),
        (error: unknown) => {
          assert.ok(error instanceof NodeStartError);
          assert.equal(error.state, 'failed');
          assert.equal((error.cause as { code?: string }).code, 'EADDRINUSE');
          return true;
        },
      );
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    // The peer listener it had opened is closed: the port can be bound again at once.
    const again = await listen(grpcPort);
    await new Promise((r) => again.close(r));
    const probe = new Redis(redisServer.url);
    try {
      const clients = await probe.client('LIST');
      assert.doesNotMatch(String(clients), /name=lazarus-a /, 'its Redis connection is closed');
    } finally {
      probe.disconnect();
    }
  });
});

describe('grpc.health.v1 on the peer port', () => {
  let redisServer: RedisProcess;
  let copy: ConfigCopy;
  let grpcPort: number;

  before(async () => {
    redisServer = await startRedis();
    copy = await copyConfig();
    grpcPort = await freePort();
    await copy.edit('deploy/local/region.yaml', 'redis://127.0.0.1:6379/0', redisServer.url);
    await copy.edit('deploy/local/region.yaml', '"127.0.0.1:50151"', `"127.0.0.1:${grpcPort}"`);
    await copy.edit('deploy/local/region.yaml', '"127.0.0.1:8181"', `"127.0.0.1:${await freePort()}"`);
    await writeRegionCertificates(join(copy.dir, 'certs'), 'local-1', [
      { id: 'a', grpc: `127.0.0.1:${grpcPort}` },
      { id: 'b', grpc: '127.0.0.1:1' },
    ]);
  });
  after(async () => {
    await copy.remove();
    await redisServer.stop();
  });

  test('SERVING while the node runs, NOT_SERVING once it drains, through a real health client over mTLS', async () => {
    const node = await ControllerNode.start({ configDir: copy.dir, nodeId: 'a', log });
    // A health client is a peer's TLS client: node b's certificate, checking that the server is a.
    const certs = join(copy.dir, 'certs');
    const b = await PeerIdentity.load(
      'b',
      {
        ca: join(certs, 'ca.pem'),
        cert: join(certs, 'b.pem'),
        key: join(certs, 'b-key.pem'),
      },
      ['a', 'b', 'c'],
    );
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const client = new Health(`127.0.0.1:${grpcPort}`, b.channelCredentials('a'), expectPeer('a'));
    const check = (service: string): Promise<string> =>
      new Promise((resolve, reject) => {
        (client as unknown as Record<string, (...a: unknown[]) => void>)['check']?.(
          { service },
          (error: grpc.ServiceError | null, reply: { status: string }) =>
            error === null ? resolve(reply.status) : reject(error),
        );
      });
    try {
      assert.equal(node.state, 'running');
      assert.equal(await check(''), 'SERVING');
      assert.equal(await check(PEER_SERVICE_NAME), 'SERVING');
      await assert.rejects(check('no.such.Service'), { code: grpc.status.NOT_FOUND });
      // The exec probe: `lazarus health` as its own process, over mTLS with the node's certificate.
      const probe = await lazarusHealth(copy.dir, { LAZARUS_NODE: 'a' });
      assert.deepEqual([probe.code, probe.stdout], [0, `a (127.0.0.1:${grpcPort}): SERVING\n`]);
      // Watch it while the node stops: the stream says NOT_SERVING before the port closes.
      const seen: string[] = [];
      const watch = (
        client as unknown as Record<string, (r: object) => grpc.ClientReadableStream<{ status: string }>>
      )['watch']?.({ service: '' });
      const notServing = new Promise<void>((resolve) => {
        watch?.on('data', (reply: { status: string }) => {
          seen.push(reply.status);
          if (reply.status === 'NOT_SERVING') resolve();
        });
        watch?.on('error', () => resolve());
      });
      await waitFor('the watch to report SERVING', () =>
        Promise.resolve(seen.includes('SERVING') ? true : undefined),
      );
      await node.stop();
      await notServing;
      assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
      watch?.cancel();
      const gone = await lazarusHealth(copy.dir, {}, ['--node', 'a', '--timeout', '1s']);
      assert.equal(gone.code, 1, gone.stdout);
      assert.match(gone.stdout, /^a \(127\.0\.0\.1:\d+\): no answer \((UNAVAILABLE|DEADLINE_EXCEEDED): /);
      const unknown = await lazarusHealth(copy.dir, {}, ['--node', 'z']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stdout, /node z is not in region\.yaml \(nodes: a, b, c\)/);
    } finally {
      client.close();
      if (node.state === 'running') await node.stop();
    }
  });
});

describe('a node on IPv6 loopback, bound where its listen block says', () => {
  test('[::1] addresses: it binds listen.grpc and listen.api, its peers and clients reach it there', async () => {
    // Every machine this project runs its tests on has an IPv6 loopback; without one, say so.
    assert.ok(
      await hasIpv6Loopback(),
      'this machine has no IPv6 loopback (::1): an IPv6 region cannot be tested here',
    );
    const redisServer = await startRedis();
    const copy = await copyConfig();
    try {
      const grpcPort = await freePort();
      const apiPort = await freePort();
      await copy.edit('deploy/local/region.yaml', 'redis://127.0.0.1:6379/0', redisServer.url);
      // Advertised as [::1]; bound on the wildcard of IPv6 (listen), reached on [::1].
      await copy.edit(
        'deploy/local/region.yaml',
        `grpc: "127.0.0.1:50151"`,
        `grpc: "[::1]:${grpcPort}", listen: { grpc: "[::]:${grpcPort}", api: "[::1]:${apiPort}" }`,
      );
      await copy.edit('deploy/local/region.yaml', '"127.0.0.1:8181"', `"[::1]:${apiPort}"`);
      await writeRegionCertificates(join(copy.dir, 'certs'), 'local-1', [
        { id: 'a', grpc: `[::1]:${grpcPort}` },
        { id: 'b', grpc: '127.0.0.1:1' },
      ]);
      const node = await ControllerNode.start({ configDir: copy.dir, nodeId: 'a', log });
      try {
        assert.equal(node.config.region.nodes[0]?.listen?.grpc, `[::]:${grpcPort}`);
        // The REST API on [::1].
        const health = await fetch(`http://[::1]:${apiPort}/healthz`);
        assert.equal(health.status, 200);
        // A peer's client dials the advertised [::1] address over mTLS and gets its health.
        const certs = join(copy.dir, 'certs');
        const b = await PeerIdentity.load(
          'b',
          { ca: join(certs, 'ca.pem'), cert: join(certs, 'b.pem'), key: join(certs, 'b-key.pem') },
          ['a', 'b', 'c'],
        );
        const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
        const client = new Health(`[::1]:${grpcPort}`, b.channelCredentials('a'), expectPeer('a'));
        try {
          const status = await new Promise<string>((resolve, reject) =>
            (client as unknown as Record<string, (...a: unknown[]) => void>)['check']?.(
              { service: '' },
              (error: grpc.ServiceError | null, reply: { status: string }) =>
                error === null ? resolve(reply.status) : reject(error),
            ),
          );
          assert.equal(status, 'SERVING');
        } finally {
          client.close();
        }
      } finally {
        await node.stop();
      }
    } finally {
      await copy.remove();
      await redisServer.stop();
    }
  });
});
