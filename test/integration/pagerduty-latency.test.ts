/**
 * Time from an event to its acknowledgement against the simulator on loopback: 200 acks one after
 * the other, then 200 with 50 in flight. Each ack is a lookup by incident key and a PUT (fresh keys,
 * so the id cache never helps). What is asserted is that every ack lands, one at a time and 50 at
 * once, each with its first-response time; the latency figures go to the test's diagnostics only
 * (timings are for benchmarks: `npm run bench:page` measures the page path under a storm).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { PagerDutyPager } from '../../src/pager/pagerduty-pager.js';
import { PagerDutySimulator } from '../../src/sim/pagerduty.js';

const N = 200;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe('ack latency against the simulator', () => {
  let sim: PagerDutySimulator;
  let pager: PagerDutyPager;

  before(async () => {
    // Latency, not the rate limit: 400 acks of four calls each are more than 960 a minute.
    sim = await PagerDutySimulator.start({ requestsPerMinute: 0 });
    pager = new PagerDutyPager({ token: 'sim-token', from: 'lazarus@example.com', baseUrl: sim.url });
  });
  after(async () => {
    pager.close();
    await sim.close();
  });

  async function ackAll(prefix: string, inFlight: number): Promise<number[]> {
    const keys = Array.from({ length: N }, (_, i) => `${prefix}-${i}`);
    for (const key of keys) sim.createIncident({ incidentKey: key, service: 'sms-api' });
    const latencies: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const view = pager.forEvent(Date.now());
        await view.acknowledge(key, new AbortController().signal);
        latencies.push(view.firstResponseMs()!);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    assert.equal(
      sim.incidents().filter((i) => i.incident_key.startsWith(prefix) && i.status === 'acknowledged').length,
      N,
    );
    return latencies.sort((a, b) => a - b);
  }

  for (const inFlight of [1, 50]) {
    test(`${N} acks, ${inFlight} in flight`, async (t) => {
      await ackAll(`warm-${inFlight}`, inFlight); // JIT and connection pool warm-up
      const sorted = await ackAll(`lat-${inFlight}`, inFlight);
      const line = `ack latency, ${inFlight} in flight: p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms (n=${N})`;
      t.diagnostic(line);
      console.log(line);
      assert.equal(sorted.length, N);
      assert.ok(
        sorted.every((ms) => Number.isFinite(ms) && ms >= 0),
        'every ack has its first-response time',
      );
    });
  }
});
