/**
 * Late votes on a real redis-server: those in before the decision's write go in that write; those
 * that come while the responder holds the record (it is about to add the page's escalation) go in
 * the responder's update; only those that come after either are an update of their own. Each case
 * counts the decision-update round trips and reads back the record.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import { LateVotes } from '../../../src/controller/late-votes.js';
import type { AuditEntry } from '../../../src/audit/log.js';
import type { DecisionRecord } from '../../../src/records/decision.js';
import { privateRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';
import { decisionRecord, freshKeys } from '../api/fixtures.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const log = pino({ level: 'silent' });

/** The store, counting its updates. */
class CountingStore extends DecisionStore {
  updates = 0;
  override async update(record: DecisionRecord, entries: readonly AuditEntry[] = []): Promise<boolean> {
    this.updates++;
    return super.update(record, entries);
  }
}

function lateFrom(record: DecisionRecord) {
  let resolve: (v: { votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }) => void = () =>
    undefined;
  const promise = new Promise<{ votes: DecisionRecord['votes']; failures: DecisionRecord['failures'] }>(
    (r) => (resolve = r),
  );
  const votes = record.votes.slice(0, 1).map((v) => ({ ...v, node: 'c' }));
  return { promise, arrive: () => resolve({ votes, failures: [] }), votes };
}

describe('late votes', () => {
  const db = privateRedis();
  /** A counting store on fresh keys, late votes (holding at most `holdMs`), a record, its late votes expected. */
  const setUp = (holdMs?: number) => {
    const store = new CountingStore(db.redis, freshKeys());
    const late = new LateVotes(store, holdMs);
    const record = decisionRecord({ id: 'e-1', decidedAt: NOW });
    const votes = lateFrom(record);
    late.expect(record.event_id, votes.promise);
    return { store, late, record, votes };
  };

  test('in before the write: in the decision itself, no update', async () => {
    const { store, late, record, votes } = setUp();
    votes.arrive();
    await new Promise((r) => setImmediate(r));
    assert.equal(late.takeArrived(record), true);
    assert.equal(await store.write(record), true);
    late.written(record, log);
    await late.flush();
    assert.equal(store.updates, 0);
    assert.deepEqual((await store.get('e-1'))?.late_votes, votes.votes);
  });

  test('not in yet: takeArrived says so, and they are added when they come', async () => {
    const { store, late, record, votes } = setUp();
    assert.equal(late.takeArrived(record), false);
    assert.equal(await store.write(record), true);
    late.written(record, log);
    votes.arrive();
    await late.flush();
    assert.equal(store.updates, 1);
    assert.deepEqual((await store.get('e-1'))?.late_votes, votes.votes);
  });

  test('while the record is held: carried by the holder’s update; after its release: on their own', async () => {
    const { store, late, record, votes } = setUp();
    assert.equal(await store.write(record), true);
    late.hold(record);
    late.written(record, log);
    votes.arrive();
    await waitFor('the late votes on the record', () =>
      Promise.resolve(record.late_votes !== undefined ? true : undefined),
    );
    assert.equal(store.updates, 0, 'held: the late votes wait for the holder');
    // The holder writes the record (with the page) and learns that it carries late votes.
    assert.equal(late.release(record), true);
    assert.equal(await store.update(record), true);
    await late.flush();
    assert.equal(store.updates, 1, 'one write for both');
    assert.deepEqual((await store.get('e-1'))?.late_votes, votes.votes);

    // Released before they come: they are an update of their own.
    const other = decisionRecord({ id: 'e-2', decidedAt: NOW });
    const later = lateFrom(other);
    late.expect(other.event_id, later.promise);
    assert.equal(await store.write(other), true);
    late.hold(other);
    late.written(other, log);
    assert.equal(late.release(other), false, 'nothing came during the hold');
    later.arrive();
    await late.flush();
    assert.equal(store.updates, 2);
    assert.deepEqual((await store.get('e-2'))?.late_votes, later.votes);
  });

  test('a holder that never writes: the late votes go alone after the hold, or at once on flush', async () => {
    const { store, late, record, votes } = setUp(50);
    assert.equal(await store.write(record), true);
    late.hold(record);
    late.written(record, log);
    votes.arrive();
    await waitFor('the late votes written after the hold', async () =>
      (await store.get('e-1'))?.late_votes !== undefined ? true : undefined,
    );
    assert.equal(store.updates, 1);
    assert.equal(late.release(record), false, 'nothing left for the holder to carry');

    // Shutdown: flush writes what waits for a holder, without waiting out the hold.
    const slow = new LateVotes(store, 600_000);
    const other = decisionRecord({ id: 'e-2', decidedAt: NOW });
    const more = lateFrom(other);
    slow.expect(other.event_id, more.promise);
    assert.equal(await store.write(other), true);
    slow.hold(other);
    slow.written(other, log);
    more.arrive();
    await waitFor('the late votes on the record', () =>
      Promise.resolve(other.late_votes !== undefined ? true : undefined),
    );
    await slow.flush();
    assert.deepEqual((await store.get('e-2'))?.late_votes, more.votes);
  });

  test('a holder that lets go without writing: the late votes held for it are written on their own', async () => {
    const { store, late, record, votes } = setUp();
    assert.equal(await store.write(record), true);
    late.hold(record);
    late.written(record, log);
    votes.arrive();
    await waitFor('the late votes on the record', () =>
      Promise.resolve(record.late_votes !== undefined ? true : undefined),
    );
    late.letGo(record);
    await waitFor('the late votes in the record', async () =>
      (await store.get('e-1'))?.late_votes !== undefined ? true : undefined,
    );
    assert.equal(store.updates, 1);
  });
});
