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

describe('benchmark smoke sizes', { timeout: 240_000 }, () => {
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
