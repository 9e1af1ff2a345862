import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ActionErrorCodes } from '../../../src/actions/errors.js';
import { healthcheckWaitHealthy } from '../../../src/actions/healthcheck-wait-healthy.js';
import { waitFor } from '../../helpers/wait.js';
import { actionContext, rejectsWithActionError, runChecked } from './context.js';

const { FAILED, BAD_INPUT } = ActionErrorCodes;

describe('healthcheck.wait_healthy', () => {
  let server: http.Server;
  let url: string;
  /** Requests so far, and the source address of each. */
  let hits: string[] = [];
  /** The host answers 503 until it has seen this many requests (Infinity: never healthy). */
  let healthyFromHit = Infinity;
  /** The host accepts connections but never answers. */
  let hang = false;

  before(async () => {
    server = http.createServer((request, response) => {
      hits.push(request.socket.remoteAddress ?? '');
      if (hang) return;
      response.writeHead(hits.length >= healthyFromHit ? 200 : 503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });

  beforeEach(() => {
    hits = [];
    healthyFromHit = Infinity;
    hang = false;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('healthy at once: one attempt', async () => {
    healthyFromHit = 1;
    const out = await runChecked(healthcheckWaitHealthy, { url, interval: '50ms' }, actionContext());
    assert.equal(out.healthy, true);
    assert.equal(out.attempts, 1);
    assert.equal(hits.length, 1);
  });

  test('polls until the host turns healthy, counting the attempts', async () => {
    healthyFromHit = 4;
    const out = await runChecked(
      healthcheckWaitHealthy,
      { url, interval: '50ms', deadline: '10s' },
      actionContext(),
    );
    assert.equal(out.healthy, true);
    assert.equal(out.attempts, 4);
    assert.equal(hits.length, 4, 'no probe after the healthy answer');
    // Three intervals of 50 ms passed between the four probes.
    assert.ok((out.elapsed_ms as number) >= 140, `elapsed ${String(out.elapsed_ms)} ms`);
  });

  test('fails at the deadline, not retryable, with the last status and the attempts', async () => {
    const started = Date.now();
    const error = await rejectsWithActionError(
      healthcheckWaitHealthy.run({ url, interval: '100ms', deadline: '350ms' }, actionContext()),
      { code: FAILED, retryable: false, message: /not healthy after \d+ attempts.*last: status 503/ },
    );
    const took = Date.now() - started;
    assert.ok(took >= 340 && took < 2_000, `took ${took} ms`);
    const attempts = Number(/after (\d+) attempts/.exec(error.message)?.[1]);
    assert.equal(attempts, hits.length);
    // Probes at 0, 100, 200, 300 ms and a last one at the deadline.
    assert.ok(attempts >= 4 && attempts <= 6, `${attempts} attempts`);
  });

  test('no answer at all: the last error is in the failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await rejectsWithActionError(
      healthcheckWaitHealthy.run(
        { url: `http://127.0.0.1:${port}/health`, interval: '50ms', deadline: '200ms' },
        actionContext(),
      ),
      { code: FAILED, retryable: false, message: /last: .*ECONNREFUSED/ },
    );
  });

  test('a hung host: each probe gives up after min(5s, interval), so polling goes on', async () => {
    hang = true;
    const started = Date.now();
    const error = await rejectsWithActionError(
      healthcheckWaitHealthy.run({ url, interval: '100ms', deadline: '300ms' }, actionContext()),
      { code: FAILED, retryable: false, message: /last: no answer within 100 ms/ },
    );
    assert.ok(Date.now() - started < 2_000, 'not one 5 s probe');
    assert.ok(Number(/after (\d+) attempts/.exec(error.message)?.[1]) >= 2);
  });

  test("probes go out from the context's source address", async () => {
    healthyFromHit = 2;
    await runChecked(
      healthcheckWaitHealthy,
      { url, interval: '20ms' },
      actionContext({ sourceAddress: '127.0.0.2' }),
    );
    assert.deepEqual(hits, ['127.0.0.2', '127.0.0.2']);
  });

  test('the step signal stops the polling at once', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const running = healthcheckWaitHealthy.run(
      { url, interval: '1h', deadline: '2h' },
      actionContext({ signal: controller.signal }),
    );
    await waitFor('the first probe', () => Promise.resolve(hits.length > 0 ? true : undefined));
    controller.abort();
    await rejectsWithActionError(running, { code: FAILED, retryable: false, message: /aborted/ });
    assert.ok(Date.now() - started < 2_000);
    assert.equal(hits.length, 1);
  });

  test('a bad interval, deadline or URL is bad input', async () => {
    await rejectsWithActionError(healthcheckWaitHealthy.run({ url, interval: 'often' }, actionContext()), {
      code: BAD_INPUT,
      retryable: false,
      message: /interval "often"/,
    });
    await rejectsWithActionError(healthcheckWaitHealthy.run({ url, deadline: '0s' }, actionContext()), {
      code: BAD_INPUT,
      retryable: false,
      message: /deadline "0s" is not a positive duration/,
    });
    await rejectsWithActionError(healthcheckWaitHealthy.run({ url: 'i-123:8080/health' }, actionContext()), {
      code: BAD_INPUT,
      retryable: false,
      message: /not http/,
    });
    assert.equal(hits.length, 0);
  });
});
