import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { planBalance } from '../../../src/ingest/balance.js';

const shards = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

/** Runs every live node's plan in turn, applying it, until nothing changes; returns who holds what. */
function settle(
  live: string[],
  eligible: string[],
  initial: Map<string, string | undefined>,
  rounds = 50,
): Map<string, string | undefined> {
  const holders = new Map(initial);
  for (let r = 0; r < rounds; r++) {
    let changed = false;
    for (const me of live) {
      const plan = planBalance({ me, live, eligible, holders });
      for (const s of plan.release) {
        holders.set(s, undefined);
        changed = true;
      }
      for (const s of plan.acquire) {
        if (holders.get(s) === undefined) {
          holders.set(s, me);
          changed = true;
        }
      }
    }
    if (!changed) return holders;
  }
  throw new Error('did not settle');
}

function counts(holders: Map<string, string | undefined>, live: string[]): number[] {
  return live.map((n) => [...holders.values()].filter((h) => h === n).length);
}

describe('planBalance', () => {
  test('4 shards over 3 nodes settle at 2/1/1, every shard held', () => {
    const live = ['a', 'b', 'c'];
    const holders = settle(live, shards(4), new Map());
    assert.deepEqual(counts(holders, live).sort(), [1, 1, 2]);
    assert.ok([...holders.values()].every((h) => h !== undefined));
  });

  test('a node that held everything gives shards up when others join', () => {
    const all = new Map(shards(6).map((s) => [s, 'a']));
    const holders = settle(['a', 'b', 'c'], shards(6), all);
    assert.deepEqual(counts(holders, ['a', 'b', 'c']), [2, 2, 2]);
  });

  test("a dead node's shards (its leases expired: free) go to the survivors", () => {
    const before = new Map([
      ['s0', 'a'],
      ['s1', 'b'],
      ['s2', undefined],
      ['s3', undefined],
    ]);
    const holders = settle(['a', 'b'], shards(4), before);
    assert.deepEqual(counts(holders, ['a', 'b']), [2, 2]);
  });

  test('property: any start settles with every shard held and counts within one of each other', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }),
        (n, s, start) => {
          const live = ['a', 'b', 'c', 'd', 'e'].slice(0, n);
          const eligible = shards(s);
          const initial = new Map(
            eligible.map((sh, i) => [
              sh,
              start[i] === undefined || start[i] >= n ? undefined : live[start[i]],
            ]),
          );
          const holders = settle(live, eligible, initial);
          assert.ok([...holders.values()].every((h) => h !== undefined));
          const c = counts(holders, live);
          assert.ok(Math.max(...c) - Math.min(...c) <= 1, JSON.stringify(c));
        },
      ),
      { numRuns: 300 },
    );
  });
});
