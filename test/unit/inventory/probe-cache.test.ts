/**
 * The probe cache against a real HTTP health endpoint that counts its requests: peer hosts'
 * answers are reused for `probe_cache`; a fresh probe is shared only by fresh probes asked within
 * the share window of its start, never with an older one, never with one started before the
 * caller's previous answer (a check's next attempt is a new request); `probe_cache: 0` shares
 * nothing. Time is a manual clock; only the HTTP requests are real.
 */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ProbeCache } from '../../../src/inventory/probe-cache.js';

describe('probe cache', () => {
  let requests = 0;
  let url = '';
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(503).end();
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const options = { timeoutMs: 2000 };

  test('fresh probes within the share window of a probe’s start share it; later ones do not', async () => {
    let now = 1_000_000;
    const cache = new ProbeCache(500, 100, () => now);
    const before = requests;
    const first = cache.probe(url, options, true);
    now += 40;
    const second = cache.probe(url, options, true);
    assert.equal(await first, await second, 'one probe for both');
    assert.equal((await first).status, 503);
    assert.equal(requests - before, 1);
    now += 61; // 101 ms after the first started: not fresh any more
    await cache.probe(url, options, true);
    assert.equal(requests - before, 2);
    // A peer host's (not fresh) probe is served from it for probe_cache.
    now += 400;
    await cache.probe(url, options);
    assert.equal(requests - before, 2);
  });

  test('a probe started before the caller’s previous answer is never shared with its next attempt', async () => {
    let now = 2_000_000;
    const cache = new ProbeCache(500, 100, () => now);
    const before = requests;
    const attempt1 = await cache.probe(url, options, true);
    now += 5;
    const answeredAt = now;
    // The next attempt, within the window: a new request, since the shared one started before.
    const attempt2 = cache.probe(url, options, true, answeredAt);
    assert.notEqual(await attempt2, attempt1);
    assert.equal(requests - before, 2);
    // Another event asking now shares attempt 2 (it started after nothing of its own).
    now += 10;
    assert.equal(await cache.probe(url, options, true), await attempt2);
    assert.equal(requests - before, 2);
  });

  test('a probe that seems to start in the future (a clock gone back) is shared with nothing', async () => {
    let now = 4_000_000;
    const cache = new ProbeCache(500, 100, () => now);
    const before = requests;
    const first = cache.probe(url, options, true);
    await first;
    now -= 500;
    // The first probe's start is ahead of now: not taken for a fresh one, nor for a cached one.
    const second = cache.probe(url, options, true);
    assert.notEqual(second, first);
    await second;
    now -= 1;
    const third = cache.probe(url, options);
    assert.notEqual(third, second);
    await third;
    assert.equal(requests - before, 3);
  });

  test('probe_cache 0: nothing is shared, fresh or not', async () => {
    const now = 3_000_000;
    const cache = new ProbeCache(0, 100, () => now);
    const before = requests;
    await Promise.all([
      cache.probe(url, options, true),
      cache.probe(url, options, true),
      cache.probe(url, options),
    ]);
    assert.equal(requests - before, 3);
  });
});
