/**
 * `GET /readyz` of a real node against a real redis-server and kinesis-local: ready only while the
 * node runs, Redis answers and the stream answers; not ready while Redis is stopped and ready again
 * once it is back; and, either way, whether a quorum is possible, from the peers' own answers over
 * mutual TLS.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { writeRegionCertificates } from '../../src/cluster/certs.js';
import { ControllerNode } from '../../src/controller/node.js';
import { ensureStream, kinesisClient } from '../../src/ingest/kinesis-client.js';
import { startKinesisLocal } from '../../src/sim/kinesis-local.js';
import type { KinesisLocalProcess } from '../../src/sim/kinesis-local.js';
import { freePort } from '../../src/sim/ports.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { copyConfig } from '../helpers/config-copy.js';
import type { ConfigCopy } from '../helpers/config-copy.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });

interface Readiness {
  status: number;
  body: {
    status?: string;
    state?: string;
    redis?: string;
    stream?: string;
    quorum?: { needed: number; voters: string[]; possible: boolean; peers: Record<string, string> };
    error?: { code: string; message: string; checks?: Readiness['body'] };
  };
}

describe('/readyz of a node', { timeout: 120_000 }, () => {
  let redis: RedisProcess;
  let kinesis: KinesisLocalProcess;
  let copy: ConfigCopy;
  const api: Record<string, number> = {};
  const nodes: ControllerNode[] = [];

  const ready = async (node: string): Promise<Readiness> => {
    const res = await fetch(`http://127.0.0.1:${api[node]}/readyz`);
    return { status: res.status, body: (await res.json()) as Readiness['body'] };
  };

  before(async () => {
    redis = await startRedis();
    kinesis = await startKinesisLocal();
    const client = kinesisClient({ endpoint: kinesis.endpoint, region: 'us-east-1' });
    await ensureStream(client, 'lazarus-local-1', 1);
    client.destroy();
    copy = await copyConfig();
    const region = 'deploy/local/region.yaml';
    await copy.edit(region, 'redis://127.0.0.1:6379/0', redis.url);
    await copy.edit(region, 'http://127.0.0.1:4567', kinesis.endpoint);
    const grpc: Record<string, string> = {};
    for (const [i, id] of ['a', 'b', 'c'].entries()) {
      grpc[id] = `127.0.0.1:${await freePort()}`;
      api[id] = await freePort();
      await copy.edit(region, `"127.0.0.1:5015${i + 1}"`, `"${grpc[id]}"`);
      await copy.edit(region, `"127.0.0.1:818${i + 1}"`, `"127.0.0.1:${api[id]}"`);
    }
    await writeRegionCertificates(
      join(copy.dir, 'certs'),
      'local-1',
      ['a', 'b', 'c'].map((id) => ({ id, grpc: grpc[id] ?? '' })),
    );
  });
  after(async () => {
    for (const node of nodes) await node.stop();
    await copy?.remove();
    await kinesis?.stop();
    await redis?.stop();
  });

  test('ready with Redis and the stream; the quorum possible once a second node runs', async () => {
    nodes.push(await ControllerNode.start({ configDir: copy.dir, nodeId: 'a', log }));
    const alone = await ready('a');
    assert.equal(alone.status, 200, JSON.stringify(alone.body));
    assert.equal(alone.body.status, 'ready');
    assert.deepEqual([alone.body.state, alone.body.redis, alone.body.stream], ['running', 'ok', 'ok']);
    // b and c are not running: a alone cannot make the quorum of 2, and says why, but stays ready.
    assert.deepEqual(alone.body.quorum?.voters, ['a']);
    assert.equal(alone.body.quorum?.possible, false);
    assert.equal(alone.body.quorum?.needed, 2);
    assert.match(alone.body.quorum?.peers['b'] ?? '', /UNAVAILABLE/);

    nodes.push(await ControllerNode.start({ configDir: copy.dir, nodeId: 'b', log }));
    // a's channel to b may still be in its reconnect backoff (at most 2 s) when b comes up.
    const two = await waitFor('a to see b running', async () => {
      const r = await ready('a');
      return r.body.quorum?.possible === true ? r : undefined;
    });
    assert.equal(two.status, 200);
    assert.deepEqual(two.body.quorum?.voters, ['a', 'b']);
    assert.equal(two.body.quorum?.possible, true);
    assert.equal(two.body.quorum?.peers['b'], 'running');
    assert.deepEqual((await ready('b')).body.quorum?.voters, ['b', 'a']);
  });

  test('Redis stopped: 503 naming Redis; started again: ready again, without a restart of the node', async () => {
    await redis.stop();
    const down = await ready('a');
    assert.equal(down.status, 503);
    assert.equal(down.body.error?.code, 'LZ_ERR_API_UNAVAILABLE');
    assert.match(down.body.error?.message ?? '', /Redis does not answer PING/);
    assert.doesNotMatch(down.body.error?.message ?? '', /stream/);
    assert.equal(down.body.error?.checks?.stream, 'ok');
    // The liveness probe is not tied to Redis: a Redis outage must not restart every node.
    assert.equal((await fetch(`http://127.0.0.1:${api['a']}/healthz`)).status, 200);

    await redis.restart();
    const back = await waitFor('node a ready again', async () => {
      const r = await ready('a');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(back.body.redis, 'ok');
  });

  test('the stream unreachable: 503 naming the stream', async () => {
    await kinesis.stop();
    const down = await ready('b');
    assert.equal(down.status, 503);
    assert.match(down.body.error?.message ?? '', /the stream does not answer/);
    assert.equal(down.body.error?.checks?.redis, 'ok');
  });
});
