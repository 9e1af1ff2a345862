import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { collectVotes } from '../../../src/cluster/quorum.js';
import type { Vote, Voter } from '../../../src/cluster/quorum.js';

/** A voter that answers `pass` (or fails with `error`) after `ms`, and reports whether it was aborted. */
function voter(node: string, ms: number, pass: boolean | Error): Voter & { aborted: () => boolean } {
  let aborted = false;
  return {
    node,
    aborted: () => aborted,
    vote: (signal) =>
      new Promise<Vote>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            pass instanceof Error
              ? reject(pass)
              : resolve({ node, zone: `z-${node}`, pass, checks: [], durationMs: ms }),
          ms,
        );
        signal.addEventListener('abort', () => {
          aborted = true;
          clearTimeout(timer);
          reject(new Error('aborted'));
        });
      }),
  };
}

describe('collectVotes', () => {
  test('acts on two passing votes without waiting for the third; the third is reported late', async () => {
    const started = Date.now();
    const outcome = await collectVotes(
      [voter('a', 5, true), voter('b', 10, true), voter('c', 400, false)],
      2,
      2000,
    );
    assert.equal(outcome.decision, 'act');
    assert.deepEqual(
      outcome.votes.map((v) => v.node),
      ['a', 'b'],
    );
    assert.deepEqual(outcome.pending, ['c']);
    assert.ok(Date.now() - started < 300, 'decided before the slow vote');
    const late = await outcome.late;
    assert.deepEqual(
      late.votes.map((v) => [v.node, v.pass]),
      [['c', false]],
    );
  });

  test('escalates checks_failed as soon as two votes fail', async () => {
    const outcome = await collectVotes(
      [voter('a', 5, false), voter('b', 10, false), voter('c', 400, true)],
      2,
      2000,
    );
    assert.equal(outcome.decision, 'escalate');
    assert.equal(outcome.reason, 'checks_failed');
    assert.deepEqual(outcome.pending, ['c']);
  });

  test('one pass, one fail, one unreachable: no quorum, and the peer error is kept', async () => {
    const outcome = await collectVotes(
      [voter('a', 5, true), voter('b', 10, false), voter('c', 15, new Error('UNAVAILABLE'))],
      2,
      2000,
    );
    assert.equal(outcome.decision, 'escalate');
    assert.equal(outcome.reason, 'no_quorum');
    assert.deepEqual(outcome.failures, [{ node: 'c', error: 'UNAVAILABLE' }]);
  });

  test('two peers unreachable: no_quorum even though the local vote passes', async () => {
    const outcome = await collectVotes(
      [voter('a', 50, true), voter('b', 1, new Error('down')), voter('c', 2, new Error('down'))],
      2,
      2000,
    );
    assert.equal(outcome.decision, 'escalate');
    assert.equal(outcome.reason, 'no_quorum');
    assert.deepEqual(
      (await outcome.late).votes.map((v) => v.node),
      ['a'],
    );
  });

  test('the deadline: timeout, slow voters aborted and recorded as failures', async () => {
    const slow = voter('c', 5000, true);
    const outcome = await collectVotes([voter('a', 5, true), voter('b', 5000, true), slow], 2, 100);
    assert.equal(outcome.decision, 'escalate');
    assert.equal(outcome.reason, 'timeout');
    assert.deepEqual(outcome.failures.map((f) => f.node).sort(), ['b', 'c']);
    assert.ok(slow.aborted());
  });

  test('a quorum larger than the voters can never pass', async () => {
    const outcome = await collectVotes([voter('a', 1, true)], 2, 100);
    assert.deepEqual([outcome.decision, outcome.reason], ['escalate', 'no_quorum']);
  });
});
