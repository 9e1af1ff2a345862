/**
 * Redis Cluster runs a script (or a MULTI) only when all its keys are in one hash slot. Every key of
 * a region carries the region's hash tag, so every key (and so every script's key list) is in the
 * slot of the tag, whatever the ids inside the key; and a call whose keys are not is refused before
 * Redis sees it, in every mode, so that a key built outside keys.ts fails the tests in standalone.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../../src/common/keys.js';
import { defineScripts, replies, runScript, script } from '../../../src/common/lua.js';
import { calculateSlot } from '../../../src/common/redis-node.js';

/** Every key RedisKeys builds, with ids that themselves hold braces (a tag must not move). */
function everyKey(keys: RedisKeys): Map<string, string> {
  const out = new Map<string, string>();
  const ids = ['e-1', '{sms-api}', 'x}{y', 'shardId-000000000001'];
  for (const name of Object.getOwnPropertyNames(RedisKeys.prototype)) {
    if (name === 'constructor') continue;
    const property = Object.getOwnPropertyDescriptor(RedisKeys.prototype, name);
    if (property?.get !== undefined) out.set(name, property.get.call(keys) as string);
    else if (typeof property?.value === 'function') {
      const fn = property.value as (...args: string[] | number[]) => string;
      for (const id of ids) out.set(`${name}(${id})`, fn.call(keys, id, id, id));
      out.set(`${name}(number)`, (fn as (...a: number[]) => string).call(keys, 1_700_000_000_000, 7, 8));
    }
  }
  return out;
}

describe('Redis keys and hash slots', () => {
  test('every key of a region is in the slot of its tag, whatever the ids in it', () => {
    for (const prefix of ['lz:', 'lz:eu-west-1:', 'lz:local-1:okm2df:']) {
      const keys = new RedisKeys(prefix);
      assert.equal(keys.tag, `{${prefix}}`);
      const slot = calculateSlot(keys.tag);
      const all = everyKey(keys);
      assert.ok(all.size >= 25, `only ${all.size} keys enumerated: the enumeration is broken`);
      for (const [what, key] of all) {
        assert.ok(key.startsWith(keys.tag), `${what}: ${key} does not start with the tag`);
        assert.equal(
          calculateSlot(key),
          slot,
          `${what}: ${key} is in slot ${calculateSlot(key)}, not ${slot}`,
        );
      }
    }
  });

  test('a prefix that is empty or has braces is refused (the tag would not be the prefix)', () => {
    assert.throws(() => new RedisKeys(''), /non-empty and have no braces/);
    assert.throws(() => new RedisKeys('lz:{a}:'), /non-empty and have no braces/);
    assert.throws(() => new RedisKeys('lz}'), /non-empty and have no braces/);
  });

  test('a script called with keys of two slots is refused before Redis sees it', async () => {
    const keys = new RedisKeys('lz:slots:');
    // A client that never connects: the refusal comes before any command is sent.
    const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
    try {
      const spec = script('safety', 'breaker-update', ['window', 'state', 'history'], replies.yesNo);
      defineScripts(redis, [spec]);
      await assert.rejects(
        runScript(
          redis,
          spec,
          { window: keys.breakerWindow, state: 'lz:breaker:state', history: keys.breakerHistory },
          [],
        ),
        /breaker-update: keys .* are not in one hash slot \(lz:breaker:state\)/,
      );
    } finally {
      redis.disconnect();
    }
  });
});
