import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ActionErrorCodes } from '../../../src/actions/errors.js';
import { httpRequest } from '../../../src/actions/http-request.js';
import { waitFor } from '../../helpers/wait.js';
import { actionContext, rejectsWithActionError, runChecked } from './context.js';

const { FAILED, BAD_INPUT } = ActionErrorCodes;

describe('http.request', () => {
  let server: http.Server;
  let base: string;
  let slowHits = 0;

  before(async () => {
    server = http.createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      let raw = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (raw += chunk));
      request.on('end', () => {
        if (url.pathname === '/json') {
          response.writeHead(200, { 'content-type': 'application/json', 'X-Custom-Thing': 'yes' });
          response.end(JSON.stringify({ host: 'i-123', health_url: 'http://h/health' }));
        } else if (url.pathname === '/echo') {
          response.writeHead(201, { 'content-type': 'application/json; charset=utf-8' });
          response.end(
            JSON.stringify({
              method: request.method,
              contentType: request.headers['content-type'],
              token: request.headers['x-token'],
              received: raw === '' ? null : (JSON.parse(raw) as unknown),
            }),
          );
        } else if (url.pathname === '/status') {
          response.writeHead(Number(url.searchParams.get('code')), { 'content-type': 'text/plain' });
          response.end(url.searchParams.get('body') ?? 'x'.repeat(Number(url.searchParams.get('repeat'))));
        } else if (url.pathname === '/big') {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end('a'.repeat(200_000));
        } else if (url.pathname === '/slow') {
          slowHits += 1; // and never answer
        } else {
          response.writeHead(404).end('no such route');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('GET: status, lower-case headers and a parsed JSON body', async () => {
    const out = await runChecked(httpRequest, { method: 'GET', url: `${base}/json` }, actionContext());
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, { host: 'i-123', health_url: 'http://h/health' });
    const headers = out.headers as Record<string, string>;
    assert.equal(headers['x-custom-thing'], 'yes');
    assert.equal(headers['content-type'], 'application/json');
  });

  test('POST: the body goes out as JSON with its content type, headers too, and comes back', async () => {
    const body = { service: 'cassandra', host: '10.0.0.7', nested: { list: [1, 'two', null], ok: true } };
    const out = await runChecked(
      httpRequest,
      { method: 'POST', url: `${base}/echo`, headers: { 'X-Token': 's3cret' }, body, expect_status: [201] },
      actionContext(),
    );
    assert.equal(out.status, 201);
    assert.deepEqual(out.body, {
      method: 'POST',
      contentType: 'application/json',
      token: 's3cret',
      received: body,
    });
  });

  test('no body: no content type is invented', async () => {
    const out = await runChecked(httpRequest, { method: 'DELETE', url: `${base}/echo` }, actionContext());
    assert.deepEqual(out.body, { method: 'DELETE', received: null });
  });

  test('a text body stays text, capped at 64 KiB', async () => {
    const out = await runChecked(httpRequest, { method: 'GET', url: `${base}/big` }, actionContext());
    assert.equal(out.body, 'a'.repeat(64 * 1024));
  });

  test('a 5xx or 429 outside expect_status fails retryable, with the status and the start of the body', async () => {
    const error = await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `${base}/status?code=503&repeat=1000` }, actionContext()),
      { code: FAILED, retryable: true, message: /status 503/ },
    );
    assert.ok(error.message.includes('x'.repeat(300)));
    assert.ok(!error.message.includes('x'.repeat(301)), 'at most 300 characters of the body');
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `${base}/status?code=429&body=slow+down` }, actionContext()),
      { code: FAILED, retryable: true, message: /status 429.*slow down/ },
    );
  });

  test('a 4xx, or a success status the step did not expect, fails and is not retried', async () => {
    await rejectsWithActionError(
      httpRequest.run(
        { method: 'GET', url: `${base}/status?code=409&body=already+booting` },
        actionContext(),
      ),
      { code: FAILED, retryable: false, message: /status 409.*already booting/ },
    );
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `${base}/json`, expect_status: [201] }, actionContext()),
      { code: FAILED, retryable: false, message: /status 200, expected one of \[201\]/ },
    );
  });

  test('no answer within the timeout: retryable failure, on time', async () => {
    const started = Date.now();
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `${base}/slow`, timeout: '200ms' }, actionContext()),
      { code: FAILED, retryable: true, message: /no answer within 200 ms/ },
    );
    const took = Date.now() - started;
    assert.ok(took >= 190 && took < 3_000, `took ${took} ms`);
  });

  test('the step signal aborts a request in flight at once', async () => {
    const controller = new AbortController();
    const hitsBefore = slowHits;
    const started = Date.now();
    const running = httpRequest.run(
      { method: 'GET', url: `${base}/slow` },
      actionContext({ signal: controller.signal }),
    );
    await waitFor('the request to reach the server', () =>
      Promise.resolve(slowHits > hitsBefore ? true : undefined),
    );
    controller.abort(new Error('step timeout'));
    await rejectsWithActionError(running, {
      code: FAILED,
      retryable: false,
      message: /aborted: step timeout/,
    });
    assert.ok(Date.now() - started < 5_000, 'well before the 30 s default timeout');
  });

  test('an already aborted signal: nothing is sent', async () => {
    const controller = new AbortController();
    controller.abort();
    const hitsBefore = slowHits;
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `${base}/slow` }, actionContext({ signal: controller.signal })),
      { code: FAILED, retryable: false, message: /aborted/ },
    );
    assert.equal(slowHits, hitsBefore);
  });

  test('connection refused is a retryable failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `http://127.0.0.1:${port}/` }, actionContext()),
      { code: FAILED, retryable: true, message: /ECONNREFUSED/ },
    );
  });

  test('a bad timeout or URL is bad input, never retried', async () => {
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: `${base}/json`, timeout: '30 seconds' }, actionContext()),
      { code: BAD_INPUT, retryable: false, message: /timeout "30 seconds"/ },
    );
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: '/v1/hosts/clone' }, actionContext()),
      {
        code: BAD_INPUT,
        retryable: false,
        message: /not a URL/,
      },
    );
    await rejectsWithActionError(
      httpRequest.run({ method: 'GET', url: 'file:///etc/passwd' }, actionContext()),
      {
        code: BAD_INPUT,
        retryable: false,
        message: /not http/,
      },
    );
  });
});
