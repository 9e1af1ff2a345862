/**
 * The PagerDuty client's kept-alive connections against a real HTTP server that keeps idle
 * connections far longer than the client: the client reuses a connection while it is fresh and
 * closes it itself once it has been idle `idleSocketMs`, so that no request is ever sent on a
 * connection the server is closing; the next request opens a new one.
 */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PagerErrorCodes } from '../../../src/pager/errors.js';
import { PagerDutyClient } from '../../../src/pager/pagerduty-client.js';
import { waitFor } from '../../helpers/wait.js';

describe('PagerDutyClient connections', () => {
  let server: Server;
  let url = '';
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();

  before(async () => {
    server = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ incidents: [], path: req.url }));
    });
    // Far longer than the client's idle time: only the client can close an idle connection here.
    server.keepAliveTimeout = 60_000;
    server.on('connection', (socket: Socket) => {
      sockets.push(socket);
      socket.once('close', () => closed.add(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const budget = (): { deadline: number; signal: AbortSignal } => ({
    deadline: Date.now() + 10_000,
    signal: new AbortController().signal,
  });

  test('a fresh connection is reused; one idle past idleSocketMs is closed by the client, and the next request opens another', async () => {
    const client = new PagerDutyClient({
      token: 't',
      from: 'lazarus@example.com',
      baseUrl: url,
      idleSocketMs: 300,
    });
    try {
      const first = await client.request({ method: 'GET', path: '/incidents' }, budget());
      assert.equal(first.status, 200);
      const second = await client.request({ method: 'GET', path: '/incidents' }, budget());
      assert.equal(second.status, 200);
      assert.equal(sockets.length, 1, 'the second request went on the kept-alive connection');
      const idle = sockets[0]!;
      await waitFor(
        'the idle connection closed',
        () => Promise.resolve(closed.has(idle) ? true : undefined),
        10_000,
        20,
      );
      const third = await client.request({ method: 'GET', path: '/incidents' }, budget());
      assert.equal(third.status, 200);
      assert.equal(third.attempts, 1, 'no attempt lost to a closed connection');
      assert.equal(sockets.length, 2, 'a new connection for the request after the idle one closed');
    } finally {
      client.close();
    }
  });
  test('a permit granted and then not used goes back: the caller aborted, or the deadline came while it waited', async () => {
    const client = new PagerDutyClient({ token: 't', from: 'lazarus@example.com', baseUrl: url });
    try {
      const before = sockets.length;
      let unused = 0;
      const controller = new AbortController();
      await assert.rejects(
        client.request(
          { method: 'GET', path: '/incidents' },
          {
            deadline: Date.now() + 10_000,
            signal: controller.signal,
            // Granted, and the caller gives up before the attempt is sent.
            permit: () => {
              controller.abort(new Error('shutting down'));
              return Promise.resolve();
            },
            unused: () => (unused += 1),
          },
        ),
        /shutting down/,
      );
      assert.equal(unused, 1);
      // The client's clock, moved by the permit: it is granted 20 ms before the deadline.
      let now = Date.parse('2026-12-02T12:00:00Z');
      const late = new PagerDutyClient({
        token: 't',
        from: 'lazarus@example.com',
        baseUrl: url,
        now: () => now,
      });
      const deadline = now + 10_000;
      try {
        await assert.rejects(
          late.request(
            { method: 'GET', path: '/incidents' },
            {
              deadline,
              signal: new AbortController().signal,
              // Granted too late: less than an attempt's worth of time is left.
              permit: () => {
                now = deadline - 20;
                return Promise.resolve();
              },
              unused: () => (unused += 1),
            },
          ),
          (error: { code?: string; message?: string }) =>
            error.code === PagerErrorCodes.UNAVAILABLE &&
            /waiting for the request budget/.test(error.message ?? ''),
        );
      } finally {
        late.close();
      }
      assert.equal(unused, 2);
      assert.equal(sockets.length, before, 'nothing was sent');
    } finally {
      client.close();
    }
  });
});
