/**
 * The benchmarks' smoke sizes, run on every change so that none can rot: each must run to its end
 * and print its figures. No timing is asserted here; what is asserted is what the benchmark checks
 * of itself (for the paging storm: the budget held, no 429, something was acknowledged).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs a benchmark at its smoke size; resolves with what it printed on stdout. */
async function smoke(file: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `test/bench/${file}`, '--smoke'], {
    env: { ...process.env, LAZARUS_LOG_LEVEL: 'warn' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

describe('benchmark smoke sizes', { timeout: 400_000 }, () => {
  test('bench:match --smoke: both sizes matched, beside json-rules-engine, and their ratios printed', async () => {
    const out = await smoke('match.bench.ts');
    // services, rules, events, matched, ours µs, json-rules-engine µs, ours ÷ peer
    for (const size of ['100', '1000'])
      assert.match(
        out,
        new RegExp(`^${size}\\s+\\d+\\s+\\d+\\s+\\d+\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+$`, 'm'),
      );
    assert.match(out, /cost at 1000 services \/ cost at 100: \d+\.\d+x .*json-rules-engine: \d+\.\d+x/);
  });

  test('bench:gates --smoke: every gate of an acting event, sequential and 64 at once, and the lock beside redlock', async () => {
    const out = await smoke('gates.bench.ts');
    assert.match(out, /^sequential\s+200\s+\d+/m);
    assert.match(out, /^64 at once\s+200\s+\d+/m);
    assert.match(out, /redis-benchmark -c 1: .*requests per second/);
    // The lock beside redlock: ours, redlock's, the ratio.
    assert.match(out, /^sequential\s+200\s+\d+\s+\d+\s+\d+\.\d+$/m);
    assert.match(out, /^64 at once\s+200\s+\d+\s+\d+\s+\d+\.\d+$/m);
  });

  test('bench:workflow --smoke: the 7-step chain, one at a time and at once, beside BullMQ', async () => {
    const out = await smoke('workflow.bench.ts');
    assert.match(out, /^Lazarus\s+\d+\.\d+\s+\d+\.\d+\s+\d+/m);
    assert.match(out, /^BullMQ\s+\d+\.\d+\s+\d+\.\d+\s+\d+/m);
    assert.match(out, /^Lazarus \/ BullMQ\s+\d+\.\d+ \(aim <= 0\.6\)/m);
  });

  test('bench:cluster --smoke: both paths decided, CPU per process, exchanges per event, the references', async () => {
    const out = await smoke('cluster.bench.ts');
    assert.match(out, /^voted, steady 20\/s\s+40\s+\d+/m);
    assert.match(out, /^voted, backlog 200\s+200\s+\d+/m);
    assert.match(out, /^storm, backlog 200\s+200\s+\d+/m);
    for (const p of ['node a', 'node b', 'node c', 'redis-server', 'kinesis-local'])
      assert.match(
        out,
        new RegExp(`^${p}\\s+[\\d.]+\\s+-?\\d+\\.\\d+\\s+-?\\d+\\.\\d+\\s+\\d+\\s+\\d+`, 'm'),
        p,
      );
    // The storm path takes no votes: no Evaluate call and no probe; the voted path takes both.
    // Each row: Redis round trips, gRPC calls (votes asked, events a batch), probes, PagerDuty calls.
    const row = (path: string) =>
      new RegExp(
        `^${path}\\s+([\\d.]+)\\s+([\\d.]+) \\(([\\d.]+) votes[^)]*\\)\\s+([\\d.]+)\\s+([\\d.]+)`,
        'm',
      ).exec(out);
    const voted = row('voted');
    const storm = row('storm');
    assert.ok(voted !== null && storm !== null, out);
    assert.ok(
      Number(voted[1]) > 0 && Number(voted[2]) > 0 && Number(voted[3]) > 0 && Number(voted[4]) > 0,
      voted[0],
    );
    assert.deepEqual([Number(storm[2]), Number(storm[3]), Number(storm[4])], [0, 0, 0], storm[0]);
    // The same counted again with the events put at once (larger batches): both paths, every column.
    for (const path of ['voted', 'storm'])
      assert.match(out, new RegExp(`^${path}, \\d+ at once\\s+[\\d.]+\\s+[\\d.]+ \\(`, 'm'), path);
    assert.match(out, /storm decisions\/s on the backlog \/ bare drain\s+\d+%/);
    // Where a decision's time goes: the votes' share, and a bare reader's put→get beside it.
    assert.match(out, /^voted, steady 20\/s\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+ \/ \d+\s+\d+ \/ \d+/m);
    assert.match(
      out,
      /decision latency p99 - put→get p99 of a bare reader, voted, 20\/s\s+-?\d+ ms \(\d+ - \d+\)/,
    );
  });

  test('bench:page --smoke: a paging storm runs through, within the budget and without a 429', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'test/bench/page.bench.ts', '--smoke'],
      { env: { ...process.env, LAZARUS_LOG_LEVEL: 'warn' }, maxBuffer: 16 * 1024 * 1024 },
    );
    assert.match(stdout, /PagerDuty requests at peak, any 60 s window\s+\d+ \(budget 120\/min: within\)/);
    assert.match(stdout, /429s received\s+0\n/);
    assert.match(stdout, /acknowledgements of actionable events\s+[1-9]\d*\/\d+/);
    // A 120/min budget cannot answer 57 escalations in an 8 s race; every one the records show left
    // to PagerDuty's timer is counted by the nodes' metric too (which also counts any other call).
    const left =
      /escalations left to PagerDuty’s timer \(budget\)\s+(\d+) \(lazarus_page_left_to_timer_total\{action="escalate"\} over the nodes: (\d+)\)/.exec(
        stdout,
      );
    assert.ok(left, stdout);
    assert.ok(Number(left[1]) > 0, 'some escalations were left to the timer');
    assert.ok(Number(left[2]) >= Number(left[1]), `metric ${left[2]} < records ${left[1]}`);
  });
});
