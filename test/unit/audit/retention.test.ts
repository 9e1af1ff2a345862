/**
 * The audit trail's retention against a real redis-server: decisions older than the retention, and
 * those beyond the newest `max_events`, leave the index with their records and audit entries; the
 * rest stay listed. Never removed: a decision younger than the minimum retention (dedup by event id
 * needs it) and the decision of an event whose workflow run is still active.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { privateRedis } from '../../helpers/redis.js';
import { AuditLog } from '../../../src/audit/log.js';
import { AuditReader } from '../../../src/audit/reader.js';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import { decisionRecord, freshKeys, writeDecisions, writeRun } from '../api/fixtures.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-22T12:00:00Z');

describe('audit retention', () => {
  const db = privateRedis();
  const quiet = { warn: () => undefined };

  test('by age and by count, with the records and audit entries of what is dropped', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    const log = new AuditLog(db.redis, keys, 0, quiet);
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
    assert.equal(await store.trim(NOW, 24 * HOUR, 1000, HOUR, 2), 5);
    assert.equal(await db.redis.zcard(keys.decisions), 25);
    assert.equal(await db.redis.exists(keys.decision('e-25'), keys.audit('e-25'), keys.decision('e-29')), 0);
    assert.equal(await db.redis.exists(keys.decision('e-24'), keys.audit('e-24')), 2);

    // At most 10 events: the 15 oldest left go.
    assert.equal(await store.trim(NOW, 24 * HOUR, 10, HOUR, 4), 15);
    const page = await new AuditReader(db.redis, keys).list({ limit: 100 });
    assert.deepEqual(
      page.items.map((s) => s.id),
      Array.from({ length: 10 }, (_, i) => `e-${i}`),
    );
    assert.equal(await db.redis.exists(keys.decision('e-10'), keys.audit('e-10')), 0);
    assert.equal(await store.trim(NOW, 24 * HOUR, 10, HOUR), 0, 'nothing more to do');
  });

  test('by count, never a decision younger than the minimum retention', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    // 30 decisions, one a minute back from now: e-0 is the newest.
    await writeDecisions(
      db.redis,
      keys,
      Array.from({ length: 30 }, (_, i) => ({ id: `e-${i}`, decidedAt: NOW - i * MINUTE })),
    );
    // At most 5 events, but the last 20 minutes are protected: only e-21 … e-29 go (e-20 is exactly
    // 20 minutes old and stays).
    assert.equal(await store.trim(NOW, 24 * HOUR, 5, 20 * MINUTE, 4), 9);
    assert.equal(await db.redis.zcard(keys.decisions), 21);
    assert.equal(await db.redis.exists(keys.decision('e-21')), 0);
    assert.equal(await db.redis.exists(keys.decision('e-20'), keys.decision('e-0')), 2);
    // A minute later e-20 is older than the protection, and goes too.
    assert.equal(await store.trim(NOW + MINUTE, 24 * HOUR, 5, 20 * MINUTE, 4), 1);
    assert.equal(await store.trim(NOW + MINUTE, 24 * HOUR, 5, 20 * MINUTE, 4), 0, 'nothing more to do');
  });

  test('by age, never sooner than the minimum retention', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    await writeDecisions(
      db.redis,
      keys,
      Array.from({ length: 30 }, (_, i) => ({ id: `e-${i}`, decidedAt: NOW - i * MINUTE })),
    );
    // A retention of 5 minutes (the configuration refuses it) counts as the protected 20.
    assert.equal(await store.trim(NOW, 5 * MINUTE, 1000, 20 * MINUTE), 9);
    assert.equal(await db.redis.zcard(keys.decisions), 21);
  });

  test('never the decision of an event whose workflow run is still active', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    const log = new AuditLog(db.redis, keys, 0, quiet);
    // Ten decisions, one an hour back from now; e-9 (the oldest) and e-5 are still running,
    // e-8's run has finished.
    const records = await writeDecisions(
      db.redis,
      keys,
      Array.from({ length: 10 }, (_, i) => ({ id: `e-${i}`, decidedAt: NOW - i * HOUR })),
    );
    const byId = new Map(records.map((r) => [r.event_id, r]));
    for (const [id, status] of [
      ['e-9', 'running'],
      ['e-5', 'running'],
      ['e-8', 'succeeded'],
    ] as const) {
      const record = byId.get(id);
      assert.ok(record);
      await writeRun(db.redis, keys, record, status);
      await log.append(id, {
        at: record.decided_at,
        node: 'a',
        kind: 'page',
        action: 'acknowledge',
        ok: true,
      });
    }
    // By age (older than 4 h: e-5 … e-9), with a batch of one so that the kept one heads the index.
    assert.equal(await store.trim(NOW, 4 * HOUR + 1, 1000, HOUR, 1), 3);
    assert.equal(await db.redis.exists(keys.decision('e-9'), keys.audit('e-9')), 2);
    assert.equal(await db.redis.exists(keys.decision('e-5'), keys.audit('e-5')), 2);
    assert.equal(await db.redis.exists(keys.decision('e-8'), keys.audit('e-8')), 0);
    assert.deepEqual(await db.redis.zrange(keys.decisions, '0', '-1'), [
      'e-9',
      'e-5',
      'e-4',
      'e-3',
      'e-2',
      'e-1',
      'e-0',
    ]);

    // By count (at most 3): the running ones are kept, and count; the next oldest go in their place.
    assert.equal(await store.trim(NOW, 0, 3, HOUR, 1), 3);
    assert.deepEqual(await db.redis.zrange(keys.decisions, '0', '-1'), ['e-9', 'e-5', 'e-1', 'e-0']);
    // e-1 and e-0 are younger than the protection: the count stays over, and that is all.
    assert.equal(await store.trim(NOW, 0, 3, 90 * MINUTE, 1), 0);
    assert.deepEqual(await db.redis.zrange(keys.decisions, '0', '-1'), ['e-9', 'e-5', 'e-1', 'e-0']);
  });

  test('a retention on write: decisions and audit entries expire by themselves', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys, 60_000);
    const log = new AuditLog(db.redis, keys, 60_000, quiet);
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
      const ttl = await db.redis.pttl(key);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `${key}: ${ttl}`);
    }
  });
});
