/**
 * The evaluator's fresh probes against a real HTTP health endpoint: evaluations asked together
 * share one probe of the host in question; one asked after an earlier probe started never gets
 * that probe's answer (the host may have gone down since: its own probe must see it); and a check's
 * next attempt is a probe of its own.
 */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CHECKS } from '../../../src/checks/registry.js';
import { Evaluator } from '../../../src/controller/evaluator.js';
import type { LzEvent } from '../../../src/events/schema.js';
import type { InventoryHost } from '../../../src/inventory/types.js';

describe('the evaluator’s fresh probes', () => {
  let status = 200;
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(status).end();
  });
  let host: InventoryHost;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    host = { id: 'web-1', service: 'svc', zone: 'z1', state: 'active', healthUrl: url };
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const evaluator = (): Evaluator =>
    new Evaluator({
      node: { id: 'a', zone: 'z1', grpc: '127.0.0.1:1', api: '127.0.0.1:2' },
      inventory: {
        hostsOf: () => Promise.resolve([host]),
        findInstance: () => Promise.resolve(undefined),
      },
      checks: CHECKS,
      probeCacheMs: 500,
    });
  const event: LzEvent = {
    id: 'e-1',
    type: 'HealthcheckDown',
    source: 'test',
    time: '2026-12-02T00:00:00Z',
    service: 'svc',
    host: 'web-1',
    data: {},
  } as LzEvent;
  const down = (attempts = 1) => [{ name: 'HealthCheckDown', threshold: undefined, options: { attempts } }];

  test('asked together: one probe; asked after a probe started: a probe of its own', async () => {
    const e = evaluator();
    status = 200;
    const before = requests;
    const together = await Promise.all([e.vote(event, down()), e.vote(event, down())]);
    assert.deepEqual(
      together.map((v) => v.pass),
      [false, false],
    );
    assert.equal(requests - before, 1, 'one probe for both');
    // The host goes down right after: the next vote, within the share window, probes again and sees it.
    status = 503;
    const next = await e.vote(event, down());
    assert.equal(next.pass, true, next.checks[0]?.measured);
    assert.equal(requests - before, 2);
  });

  test('every attempt of a check is a probe of its own', async () => {
    const e = evaluator();
    status = 503;
    const before = requests;
    const v = await e.vote(event, down(3));
    assert.equal(v.pass, true);
    assert.equal(requests - before, 3);
  });
});
