/**
 * The audit trail's retention against a real redis-server: decisions older than the retention, and
 * those beyond the newest `max_events`, leave the index with their records and audit entries; the
 * rest stay listed.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { AuditLog } from '../../../src/audit/log.js';
import { AuditReader } from '../../../src/audit/reader.js';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import { startRedis } from '../../../src/sim/redis-server.js';
import type { RedisProcess } from '../../../src/sim/redis-server.js';
import { decisionRecord, freshKeys } from '../api/fixtures.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-22T12:00:00Z');

describe('audit retention', () => {
  let server: RedisProcess;
  let redis: Redis;
  const quiet = { warn: () => undefined };

  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  test('by age and by count, with the records and audit entries of what is dropped', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(redis, keys);
    const log = new AuditLog(redis, keys, 0, quiet);
    // 30 decisions, one an hour back from now: e-0 is the newest.
    for (let i = 0; i < 30; i++) {
      const record = decisionRecord({ id: `e-${i}`, decidedAt: NOW - i * HOUR });
      assert.equal(await store.write(record), true);
      await log.append(record.event_id, {
        at: record.decided_at,
        node: 'a',
        kind: 'page',
        action: 'acknowledge',
        ok: true,
      });
    }
    // Older than 24 h: e-25 … e-29 (e-24 is exactly 24 h old and stays).
    assert.equal(await store.trim(NOW, 24 * HOUR, 1000, 2), 5);
    assert.equal(await redis.zcard(keys.decisions), 25);
    assert.equal(await redis.exists(keys.decision('e-25'), keys.audit('e-25'), keys.decision('e-29')), 0);
    assert.equal(await redis.exists(keys.decision('e-24'), keys.audit('e-24')), 2);

    // At most 10 events: the 15 oldest left go.
    assert.equal(await store.trim(NOW, 24 * HOUR, 10, 4), 15);
    const page = await new AuditReader(redis, keys).list({ limit: 100 });
    assert.deepEqual(
      page.items.map((s) => s.id),
      Array.from({ length: 10 }, (_, i) => `e-${i}`),
    );
    assert.equal(await redis.exists(keys.decision('e-10'), keys.audit('e-10')), 0);
    assert.equal(await store.trim(NOW, 24 * HOUR, 10), 0, 'nothing more to do');
  });

  test('a retention on write: decisions and audit entries expire by themselves', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(redis, keys, 60_000);
    const log = new AuditLog(redis, keys, 60_000, quiet);
    const record = decisionRecord({ id: 'x', decidedAt: NOW });
    await store.write(record);
    await log.append('x', {
      at: record.decided_at,
      node: 'a',
      kind: 'notify',
      action: 'escalated',
      ok: true,
    });
    for (const key of [keys.decision('x'), keys.audit('x')]) {
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `${key}: ${ttl}`);
    }
  });
});
