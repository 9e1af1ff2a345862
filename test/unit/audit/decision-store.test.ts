/**
 * The decision store's writes against a real redis-server: a decision is written once, never while
 * another node holds the event's claim, and what is learnt after it (late votes, the page's
 * escalation) is added only to that same decision, never over another one.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { privateRedis } from '../../helpers/redis.js';
import { REASON_TEXT } from '../../../src/records/decision.js';
import type { DecisionRecord } from '../../../src/records/decision.js';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import { MAX_AUDIT_ENTRIES } from '../../../src/audit/log.js';
import type { AuditEntry } from '../../../src/audit/log.js';
import { decisionRecord, freshKeys } from '../api/fixtures.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

/** The `dependency_down` record a node makes up when Redis went away mid-batch. */
function madeUp(real: DecisionRecord, node: string, decidedAt: number): DecisionRecord {
  const { lock: _lock, rule: _rule, gates: _gates, vote_ms: _voteMs, ...rest } = real;
  return {
    ...rest,
    decision: 'escalate',
    reason: 'dependency_down',
    reason_text: REASON_TEXT.dependency_down,
    error: 'Connection is closed.',
    coordinator: { node, zone: `local-1${node}` },
    votes: [],
    failures: [],
    decided_at: new Date(decidedAt).toISOString(),
  };
}

describe('decision store', () => {
  const db = privateRedis();

  test('update adds what was learnt after the decision, and keeps its TTL', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys, 60_000);
    const record = decisionRecord({ id: 'e-1', decidedAt: NOW });
    assert.equal(await store.write(record), true);
    const late = { ...record, late_votes: record.votes.slice(0, 1), late_failures: [] };
    assert.equal(await store.update(late), true);
    assert.deepEqual(await store.get('e-1'), late);
    const ttl = await db.redis.pttl(keys.decision('e-1'));
    assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);

    // Without a retention, the record stays without a TTL.
    const keep = new DecisionStore(db.redis, keys);
    const other = decisionRecord({ id: 'e-2', decidedAt: NOW });
    assert.equal(await keep.write(other), true);
    assert.equal(await keep.update({ ...other, late_votes: [] }), true);
    assert.equal(await db.redis.pttl(keys.decision('e-2')), -1);
  });

  test('update appends the audit entries of the moment in the same round trip, even when it writes no record', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys, 60_000);
    const record = decisionRecord({ id: 'e-1', decidedAt: NOW, node: 'a' });
    assert.equal(await store.write(record), true);
    const entry = (action: string): AuditEntry => ({
      at: new Date(NOW).toISOString(),
      node: 'a',
      kind: 'page',
      action,
      ok: true,
    });
    assert.equal(await store.update({ ...record, late_votes: [] }, [entry('escalate'), entry('note')]), true);
    const trail = async (id: string): Promise<string[]> =>
      (await db.redis.lrange(keys.audit(id), 0, -1)).map((t) => (JSON.parse(t) as AuditEntry).action);
    assert.deepEqual(await trail('e-1'), ['escalate', 'note']);
    const ttl = await db.redis.pttl(keys.audit('e-1'));
    assert.ok(ttl > 50_000 && ttl <= 60_000, `the trail expires with the decision: ttl ${ttl}`);
    // Another decision's update is refused, and its entries still go to the trail (they happened).
    assert.equal(await store.update(madeUp(record, 'b', NOW + 1_000), [entry('escalate')]), false);
    assert.equal((await store.get('e-1'))?.coordinator.node, 'a');
    assert.deepEqual(await trail('e-1'), ['escalate', 'note', 'escalate']);
    // The trail keeps its newest entries only.
    const many = Array.from({ length: MAX_AUDIT_ENTRIES + 5 }, (_, i) => entry(`n${i}`));
    await store.update(record, many);
    const kept = await trail('e-1');
    assert.equal(kept.length, MAX_AUDIT_ENTRIES);
    assert.equal(kept.at(-1), `n${MAX_AUDIT_ENTRIES + 4}`);
  });

  test('update of an expired (or never written) decision writes nothing', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    const updated = await store.update(decisionRecord({ id: 'gone', decidedAt: NOW }));
    assert.equal(await db.redis.exists(keys.decision('gone')), 0);
    assert.equal(updated, false);
  });

  test('a dependency_down record made up on a retry never overwrites the real decision', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys, 60_000);
    // Node a decided `act`; Redis went away before the batch's checkpoint moved.
    const real = decisionRecord({ id: 'e-1', decidedAt: NOW, node: 'a' });
    assert.equal(await store.write(real), true);
    const stored = await db.redis.get(keys.decision('e-1'));

    // On the retry, a node makes up dependency_down for the same event: the write is refused ...
    for (const fake of [
      madeUp(real, 'a', NOW + 2_000),
      madeUp(real, 'b', NOW + 2_000),
      madeUp(real, 'b', NOW),
    ]) {
      assert.equal(await store.write(fake), false, `${fake.coordinator.node} ${fake.decided_at}`);
      // ... and so is the page's escalation added to it later.
      const escalated: DecisionRecord = {
        ...fake,
        page: {
          action: 'escalate',
          ok: true,
          incident_key: 'sms-api-1',
          latency_ms: 2_400,
          attempts: 1,
          at: new Date(NOW + 2_400).toISOString(),
        },
      };
      const updated = await store.update(escalated);
      assert.equal(await db.redis.get(keys.decision('e-1')), stored, 'the act decision is intact');
      assert.equal(updated, false, `${fake.coordinator.node} ${fake.decided_at}`);
    }
    assert.equal((await store.get('e-1'))?.decision, 'act');
  });

  test('update reads the decision and coordinator of the record, not the same names in the event', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    const base = decisionRecord({ id: 'e-1', decidedAt: NOW, node: 'a' });
    const fakeAt = new Date(NOW + 2_000).toISOString();
    // The sender's data carries the made-up record's decided_at and coordinator.
    const real: DecisionRecord = {
      ...base,
      event: { ...base.event, data: { decided_at: fakeAt, coordinator: { node: 'b' } } },
    };
    assert.equal(await store.write(real), true);
    const updated = await store.update({ ...madeUp(real, 'b', NOW + 2_000), late_votes: [] });
    assert.equal((await store.get('e-1'))?.decision, 'act');
    assert.equal(updated, false);
  });

  test('write: never while another node holds the event claim; an expired claim is no one’s', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    const real = decisionRecord({ id: 'e-1', decidedAt: NOW, node: 'a' });

    // Node a claimed the event and is deciding it; b makes up dependency_down on a retry.
    assert.deepEqual(await store.claim('e-1', 'a', 60_000), { status: 'claimed' });
    assert.deepEqual(await store.claim('e-1', 'b', 60_000), { status: 'held', holder: 'a' });
    assert.equal(await store.write(madeUp(real, 'b', NOW)), false);
    assert.equal(await db.redis.exists(keys.decision('e-1')), 0);
    assert.equal(await db.redis.zcard(keys.decisions), 0);
    assert.equal(await store.claimHolder('e-1'), 'a', 'the claim is left to its holder');

    // The holder's own decision is written, and the claim is let go.
    assert.equal(await store.write(real), true);
    assert.equal(await store.claimHolder('e-1'), null);
    assert.equal((await store.get('e-1'))?.decision, 'act');
    // Decided: nobody claims it again, in the same step as the check (no gap between the two).
    assert.deepEqual(await store.claim('e-1', 'b', 60_000), { status: 'decided' });
    assert.equal(await store.claimHolder('e-1'), null);

    // No claim (it expired: its holder died): the decision is written.
    const other = madeUp(decisionRecord({ id: 'e-2', decidedAt: NOW }), 'b', NOW);
    assert.deepEqual(await store.claim('e-2', 'a', 1), { status: 'claimed' });
    const deadline = Date.now() + 5_000;
    while ((await store.claimHolder('e-2')) !== null) {
      assert.ok(Date.now() < deadline, 'the claim did not expire');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await store.write(other), true);
    assert.equal((await store.get('e-2'))?.reason, 'dependency_down');
  });

  test('claim: what an earlier attempt that died had taken comes with the claim; the decision clears it', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys);
    const attempt = {
      node: 'a',
      lock: { resource: 'host:sms-api/sms-api-1', owner: 'event:e-3@a', token: 7 },
      acknowledged: true,
    };
    assert.deepEqual(await store.claim('e-3', 'a', 300), { status: 'claimed' });
    assert.equal(await store.recordAttempt('e-3', attempt, 60_000), true);
    assert.equal(
      await store.recordAttempt('e-3', { ...attempt, node: 'b' }, 60_000),
      false,
      'only the claim holder records',
    );
    const deadline = Date.now() + 5_000;
    while ((await store.claimHolder('e-3')) !== null) {
      assert.ok(Date.now() < deadline, 'the claim did not expire');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(await store.claim('e-3', 'b', 60_000), { status: 'claimed', earlier: attempt });
    assert.deepEqual(store.claimProof('e-3', 'b'), {
      claim: keys.claim('e-3'),
      holder: 'b',
      unless: keys.decision('e-3'),
    });
    const record = decisionRecord({ id: 'e-3', decidedAt: NOW, node: 'b' });
    const written = await store.writeTaking(record);
    assert.deepEqual(written, { written: true, attempt }, 'the writer is handed what the attempt had taken');
    // A retried write whose reply was lost (it timed out, yet landed) is found again: the same record.
    assert.deepEqual(await store.writeTaking(record, 0, { retry: true }), { written: true, attempt });
    assert.deepEqual(await store.writeTaking(record), { written: false }, 'only a retry looks');
    assert.deepEqual(
      await store.writeTaking({ ...record, latency_ms: record.latency_ms + 1 }, 0, { retry: true }),
      { written: false },
      'another record, however alike, is not this one',
    );
    await store.clearAttempt('e-3');
    assert.equal(await db.redis.exists(keys.attempt('e-3')), 0, 'done with once answered for');
    assert.equal(
      await store.recordAttempt('e-3', { node: 'b' }, 60_000),
      false,
      'nothing after the decision',
    );
  });

  test('an attempt record never outlives its decision', async () => {
    const keys = freshKeys();
    const store = new DecisionStore(db.redis, keys, 60_000);
    assert.deepEqual(await store.claim('e-4', 'a', 60_000), { status: 'claimed' });
    assert.equal(await store.recordAttempt('e-4', { node: 'a' }, 3_600_000), true);
    assert.equal(await store.write(decisionRecord({ id: 'e-4', decidedAt: NOW, node: 'a' })), true);
    const left = await db.redis.pttl(keys.attempt('e-4'));
    assert.ok(left > 0 && left <= 60_000, `attempt TTL ${left} ms`);
    assert.ok((await db.redis.pttl(keys.decision('e-4'))) >= left - 1_000, 'about as long as the decision');
  });
});
