import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { backoffMs, isRetryableStatus, retryAfterMs, sleep } from '../../../src/pager/retry-policy.js';

describe('pager retry policy', () => {
  test('retries 5xx, 429 and 408; not the other 4xx', () => {
    for (const status of [500, 502, 503, 504, 429, 408])
      assert.equal(isRetryableStatus(status), true, String(status));
    for (const status of [200, 201, 400, 401, 403, 404, 409])
      assert.equal(isRetryableStatus(status), false, String(status));
  });

  test('backoff doubles up to the cap, with half of it jittered', () => {
    const options = { initialMs: 100, maxMs: 1_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffMs(n, options, () => 1)),
      [100, 200, 400, 800, 1_000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffMs(n, options, () => 0)),
      [50, 100, 200, 400, 500],
    );
  });

  test('Retry-After in seconds or as an HTTP date', () => {
    assert.equal(retryAfterMs('2'), 2_000);
    assert.equal(retryAfterMs('0.5'), 500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now), 3_000);
    assert.equal(retryAfterMs(null), undefined);
    assert.equal(retryAfterMs('soon'), undefined);
  });

  test('sleep stops at the abort with its reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 10);
    const started = Date.now();
    await assert.rejects(sleep(5_000, controller.signal), /stop/);
    assert.ok(Date.now() - started < 1_000);
  });
});
