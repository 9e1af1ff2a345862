import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { defineScripts, runScript, type ScriptSpec } from '../../../src/common/lua.js';
import { privateRedis } from '../../helpers/redis.js';

describe('runScript', () => {
  const ctx = privateRedis();

  test('a call with another number of keys than the script takes is refused before Redis sees it', async () => {
    const spec: ScriptSpec = { module: 'pager', name: 'pager-budget', keys: 1 };
    defineScripts(ctx.redis, [spec]);
    await assert.rejects(
      runScript(ctx.redis, spec, ['a', 'b'], ['give', 0, 8, 60, 0, 0]),
      /pager-budget takes 1 key\(s\), called with 2/,
    );
    assert.equal(await ctx.redis.exists('a', 'b'), 0, 'nothing was written');
    const reply = await runScript(ctx.redis, spec, ['a'], ['give', 0, 8, 60, 0, 0]);
    assert.deepEqual(reply, [1, 0, 8]);
  });
});
