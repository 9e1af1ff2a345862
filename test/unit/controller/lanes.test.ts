/**
 * Lanes: a batch's records about one host in stream order, different hosts at once; and, with two
 * batches of a shard in hand at the same time, a host's records of the later batch after that
 * host's records of the earlier one, while other hosts of the later batch do not wait.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import pLimit from 'p-limit';
import { inLanes, KeyOrder } from '../../../src/controller/lanes.js';
import type { StreamRecord } from '../../../src/ingest/stream-record.js';

let sequence = 0;
const record = (key: string): StreamRecord => ({
  shardId: 'shardId-000000000000',
  sequenceNumber: String(++sequence),
  partitionKey: key,
  data: Buffer.from(key),
  arrivalMs: 0,
});

/** A handler whose every record waits until the test releases it, and that logs starts and ends. */
function gated(): {
  handle: (r: StreamRecord) => Promise<string>;
  release: (r: StreamRecord) => void;
  log: string[];
  started: (r: StreamRecord) => boolean;
} {
  const gates = new Map<StreamRecord, () => void>();
  const log: string[] = [];
  return {
    log,
    handle: (r) =>
      new Promise<string>((resolve) => {
        log.push(`start ${r.sequenceNumber}`);
        gates.set(r, () => {
          log.push(`end ${r.sequenceNumber}`);
          resolve(r.sequenceNumber);
        });
      }),
    release: (r) => {
      const open = gates.get(r);
      assert.ok(open !== undefined, `record ${r.sequenceNumber} has not started`);
      open();
    },
    started: (r) => gates.has(r),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('lanes', () => {
  test('a later batch: its records of a host wait for that host in the earlier batch; other hosts go on', async () => {
    const order = new KeyOrder();
    const limit = pLimit(8);
    const h = gated();
    const [a1, b1] = [record('host-a'), record('host-b')];
    const [a2, c2] = [record('host-a'), record('host-c')];
    const first = inLanes([a1, b1], limit, h.handle, 'rejected', order);
    const second = inLanes([a2, c2], limit, h.handle, 'rejected', order);
    await tick();
    assert.ok(h.started(a1) && h.started(b1) && h.started(c2), h.log.join(', '));
    assert.equal(h.started(a2), false, 'host-a of the later batch waits for host-a of the earlier');
    h.release(c2);
    h.release(b1);
    await tick();
    assert.equal(h.started(a2), false);
    h.release(a1);
    await tick();
    assert.ok(h.started(a2));
    h.release(a2);
    assert.deepEqual(await first, [a1.sequenceNumber, b1.sequenceNumber]);
    assert.deepEqual(await second, [a2.sequenceNumber, c2.sequenceNumber]);
    assert.ok(h.log.indexOf(`end ${a1.sequenceNumber}`) < h.log.indexOf(`start ${a2.sequenceNumber}`));
    await tick();
    assert.equal(order.size, 0, 'nothing left queued once all is done');
  });

  test('a failure in the earlier batch does not stop the later one behind it; the earlier rejects', async () => {
    const order = new KeyOrder();
    const limit = pLimit(8);
    const [a1, a2] = [record('host-a'), record('host-a')];
    const seen: string[] = [];
    const first = inLanes(
      [a1],
      limit,
      (r) => {
        seen.push(r.sequenceNumber);
        return Promise.reject(new Error('Redis went away'));
      },
      'rejected',
      order,
    );
    const second = inLanes(
      [a2],
      limit,
      (r) => {
        seen.push(r.sequenceNumber);
        return Promise.resolve('decided');
      },
      'rejected',
      order,
    );
    await assert.rejects(first, /Redis went away/);
    assert.deepEqual(await second, ['decided']);
    assert.deepEqual(seen, [a1.sequenceNumber, a2.sequenceNumber]);
  });

  test('within a batch: one host in stream order, at most `limit` hosts at once', async () => {
    const limit = pLimit(2);
    const h = gated();
    const rs = [record('x'), record('y'), record('z'), record('x')];
    const all = inLanes(rs, limit, h.handle, 'rejected');
    await tick();
    assert.deepEqual(
      rs.map((r) => h.started(r)),
      [true, true, false, false],
    );
    h.release(rs[0]!);
    await tick();
    assert.ok(h.started(rs[3]!), 'x goes on in its lane');
    assert.equal(h.started(rs[2]!), false, 'z waits for a slot');
    h.release(rs[3]!);
    await tick();
    assert.ok(h.started(rs[2]!));
    h.release(rs[1]!);
    h.release(rs[2]!);
    assert.deepEqual(
      await all,
      rs.map((r) => r.sequenceNumber),
    );
  });
});
