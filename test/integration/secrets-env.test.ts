/**
 * Secrets from the environment reach their clients: a Redis URL (with its password) from
 * `redis.url_env` against a real `redis-server --requirepass`, a password from `redis.password_env`,
 * a Slack webhook URL from `notifications.slack_webhooks.<channel>.url_env`; an unset variable is an
 * error naming it; a secret written in region.yaml is a warning.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { literalSecrets } from '../../src/config/region.js';
import type { CompiledRedis } from '../../src/config/types.js';
import { loadConfig } from '../../src/config/load.js';
import { defaultCatalog } from '../../src/controller/catalog.js';
import { directoryOf } from '../../src/controller/parts.js';
import { connectRegionRedis } from '../../src/controller/redis-client.js';
import { startRedis } from '../../src/sim/redis-server.js';
import type { RedisProcess } from '../../src/sim/redis-server.js';
import { copyConfig } from '../helpers/config-copy.js';

const PASSWORD = 's3cret-from-env';

describe('secrets from the environment', () => {
  let server: RedisProcess;
  before(async () => {
    server = await startRedis({ password: PASSWORD });
  });
  after(() => server.stop());

  const base = { keyPrefix: 'lz:', replicaAck: { replicas: 0, timeoutMs: 250 } } as const;

  test('redis.url_env and redis.password_env: the client authenticates with what the environment holds', async () => {
    const fromUrl: CompiledRedis = { ...base, mode: 'standalone', url: { urlEnv: 'LZ_TEST_REDIS_URL' } };
    const env = { LZ_TEST_REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${server.port}/0` };
    const a = await connectRegionRedis(fromUrl, {}, env);
    assert.equal(await a.ping(), 'PONG');
    a.disconnect();
    const fromPassword: CompiledRedis = {
      ...base,
      mode: 'standalone',
      url: { url: server.url },
      passwordEnv: 'LZ_TEST_REDIS_PASSWORD',
    };
    const b = await connectRegionRedis(fromPassword, {}, { LZ_TEST_REDIS_PASSWORD: PASSWORD });
    assert.equal(await b.ping(), 'PONG');
    b.disconnect();
    // Without the password Redis refuses the client (its ready check fails: the connection closes);
    // an unset variable is named before anything connects.
    await assert.rejects(
      connectRegionRedis({ ...base, mode: 'standalone', url: { url: server.url } }, {}, {}),
      /redis connect failed/,
    );
    await assert.rejects(
      connectRegionRedis(fromUrl, {}, {}),
      /redis.url is read from the environment variable LZ_TEST_REDIS_URL, which is not set/,
    );
    await assert.rejects(
      connectRegionRedis(fromPassword, {}, {}),
      /redis.password_env names LZ_TEST_REDIS_PASSWORD, which is not set/,
    );
  });

  test('a Slack webhook URL from url_env reaches the channel directory; one written in the file is a warning', async () => {
    const copy = await copyConfig();
    try {
      await copy.edit(
        'deploy/local/region.yaml',
        'slack_webhooks: {}',
        'slack_webhooks: { "#ops": { url_env: LZ_TEST_SLACK_OPS }, "#dev": "https://hooks.example/dev" }',
      );
      await copy.edit(
        'deploy/local/region.yaml',
        '  url: redis://127.0.0.1:6379/0\n',
        '  url: redis://:pw@127.0.0.1:6379/0\n',
      );
      const loaded = await loadConfig(copy.dir, defaultCatalog());
      assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.issues));
      process.env['LZ_TEST_SLACK_OPS'] = 'https://hooks.example/ops-from-env';
      try {
        const directory = directoryOf(loaded.config);
        assert.equal(directory.slackWebhook('#ops'), 'https://hooks.example/ops-from-env');
        assert.equal(directory.slackWebhook('#dev'), 'https://hooks.example/dev');
      } finally {
        delete process.env['LZ_TEST_SLACK_OPS'];
      }
      assert.throws(
        () => directoryOf(loaded.config),
        /slack_webhooks\["#ops"\] is read from the environment variable LZ_TEST_SLACK_OPS, which is not set/,
      );
      const warnings = literalSecrets(loaded.config.region);
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(
        warnings[0] ?? '',
        /slack_webhooks\["#dev"\]: the webhook URL is a secret written in region.yaml/,
      );
      assert.match(warnings[1] ?? '', /redis.url: the URL carries a password/);
    } finally {
      await copy.remove();
    }
  });
});
