/**
 * The scripts' one declaration: each Lua file under src/ is declared once, with exactly as many
 * named keys as the highest `KEYS[n]` it reads; a call names every key; a reply the script is not
 * written to give is refused (`LZ_ERR_SCRIPT_REPLY`), never read as a yes.
 */
import { strict as assert } from 'node:assert';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  defineScripts,
  refusedAs,
  registeredScripts,
  replies,
  runScript,
  script,
  SCRIPT_REPLY,
  scriptSource,
} from '../../../src/common/lua.js';
// Every module that declares a script (their declarations register themselves).
import '../../../src/controller/decision-store.js';
import '../../../src/ingest/shard-leases.js';
import '../../../src/pager/request-budget.js';
import '../../../src/safety/circuit-breaker.js';
import '../../../src/safety/dedup.js';
import '../../../src/safety/gate-windows.js';
import '../../../src/safety/lock.js';
import '../../../src/safety/rate-limiter.js';
import '../../../src/workflow/redis-store.js';
import '../../../src/workflow/supervisor.js';
import { REPO } from '../../helpers/config-copy.js';
import { privateRedis } from '../../helpers/redis.js';

async function luaFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const module of await readdir(join(REPO, 'src'))) {
    const names = await readdir(join(REPO, 'src', module, 'lua')).catch(() => []);
    for (const name of names) if (name.endsWith('.lua')) out.push(`${module}/${name.slice(0, -4)}`);
  }
  return out.sort();
}

describe('the Lua scripts', () => {
  test('every script file is declared, and declares exactly the keys it reads', async () => {
    const declared = new Map(registeredScripts().map((s) => [`${s.module}/${s.name}`, s]));
    const files = await luaFiles();
    assert.deepEqual([...declared.keys()].sort(), files, 'declared scripts = script files');
    for (const spec of declared.values()) {
      const source = scriptSource(spec);
      const used = [...source.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
      assert.equal(Math.max(0, ...used), spec.keys.length, `${spec.name}: keys ${spec.keys.join(', ')}`);
      assert.equal(new Set(spec.keys).size, spec.keys.length, `${spec.name}: a key name twice`);
    }
    assert.ok(files.length >= 15, `only ${files.length} scripts found: the scan is broken`);
  });

  test('an included script may include others, each inside its own function', () => {
    const source = scriptSource({ module: 'controller', name: 'claim-count' });
    assert.doesNotMatch(source, /^--#include/m, 'every include is expanded');
    for (const fn of ['claim', 'windows', 'fold', 'rate_hit', 'breaker_update'])
      assert.match(source, new RegExp(`local function ${fn}\\(KEYS, ARGV\\)`), fn);
    const windows = source.indexOf('local function windows(');
    assert.ok(source.indexOf('local function fold(') > windows, 'the fold inside the windows');
  });

  describe('runScript', () => {
    const ctx = privateRedis();

    test('keys go by name, in the declared order; a missing one is refused before Redis sees it', async () => {
      const spec = script('pager', 'pager-budget', ['bucket'], replies.numbers(4));
      defineScripts(ctx.redis, [spec]);
      await assert.rejects(
        runScript(ctx.redis, spec, {} as { bucket: string }, ['give', 0, 8, 60, 0, 0]),
        /pager-budget: key bucket not given/,
      );
      assert.deepEqual(
        await runScript(ctx.redis, spec, { bucket: 'b' }, ['give', 0, 8, 60, 0, 0]),
        [1, 0, 8, 0],
      );
      assert.equal(await ctx.redis.exists('b'), 1, 'the named key is the one written');
    });

    test('a reply the decoder does not know is refused, not taken for a yes', async () => {
      // The budget script answers an array; a decoder for 0/1 must refuse it.
      const spec = script('pager', 'pager-budget', ['bucket'], replies.yesNo);
      defineScripts(ctx.redis, [spec]);
      await assert.rejects(runScript(ctx.redis, spec, { bucket: 'c' }, ['give', 0, 8, 60, 0, 0]), {
        code: SCRIPT_REPLY,
        retryable: false,
        message: /pager-budget returned an unexpected reply: \[/,
      });
    });

    test('a decoder that throws refuses the reply the same way; refusedAs turns only that into a no', async () => {
      const spec = script('pager', 'pager-budget', ['bucket'], (reply): unknown => {
        throw new SyntaxError(`cannot read ${String(reply)}`);
      });
      defineScripts(ctx.redis, [spec]);
      const call = (): Promise<unknown> =>
        runScript(ctx.redis, spec, { bucket: 'd' }, ['give', 0, 8, 60, 0, 0]);
      await assert.rejects(call(), { code: SCRIPT_REPLY, retryable: false });
      assert.equal(await refusedAs(call(), 'refused'), 'refused');
      // Any other failure (Redis away) is not a refusal: it passes on.
      await assert.rejects(refusedAs(Promise.reject(new Error('ETIMEDOUT')), 'refused'), /ETIMEDOUT/);
    });

    test('the decoders: yes/no, named codes, text, numbers', () => {
      assert.equal(replies.yesNo(1), true);
      assert.equal(replies.yesNo(0), false);
      assert.equal(replies.yesNo(2), undefined);
      assert.equal(replies.yesNo('1'), undefined);
      const codes = replies.codes({ 0: 'no', 1: 'yes' } as const);
      assert.equal(codes(1), 'yes');
      assert.equal(codes(3), undefined);
      assert.equal(replies.text('e-1'), 'e-1');
      assert.equal(replies.text(null), undefined);
      assert.deepEqual(replies.numbers(2)([1, 2]), [1, 2]);
      assert.equal(replies.numbers(2)([1, Infinity]), undefined);
      assert.equal(replies.numbers(2)([1]), undefined);
    });
  });
});
