/**
 * A node that cannot start says so with its state: `ControllerNode.start` rejects with
 * `LZ_ERR_NODE_START`, state `failed`, the cause named, and closes what it had opened (its peer
 * listener and its Redis connection), so that a supervisor restarting it finds the port free.
 */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { join } from 'node:path';
import { writeRegionCertificates } from '../../src/cluster/certs.js';
import { ControllerErrorCodes } from '../../src/controller/errors.js';
import { ControllerNode, NodeStartError } from '../../src/controller/node.js';
import { freePort } from '../../src/sim/ports.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { copyConfig } from '../helpers/config-copy.js';
import type { ConfigCopy } from '../helpers/config-copy.js';

const log = pino({ level: 'silent' });

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
