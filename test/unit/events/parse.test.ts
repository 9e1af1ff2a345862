import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseEvent } from '../../../src/events/parse.js';

const good = {
  id: 'ev-1',
  type: 'NagiosHostAlarm',
  source: 'nagios',
  time: '2026-11-22T03:00:00Z',
  environment: 'prod',
  service: 'sms-api',
  host: 'sms-api-3',
  incident_key: 'PD-1',
  data: { host_state: 'DOWN', host_state_type: 'HARD' },
};

function rejection(input: Uint8Array | string, maxBytes?: number) {
  const result = parseEvent(input, maxBytes === undefined ? {} : { maxBytes });
  assert.equal(result.ok, false, 'expected a rejection');
  return result.ok ? undefined! : result.rejection;
}

describe('parseEvent', () => {
  test('a valid event, from bytes or text, with its time in milliseconds', () => {
    for (const input of [JSON.stringify(good), Buffer.from(JSON.stringify(good))]) {
      const result = parseEvent(input);
      assert.ok(result.ok);
      assert.equal(result.event.host, 'sms-api-3');
      assert.equal(result.timeMs, Date.UTC(2026, 10, 22, 3, 0, 0));
      assert.ok(Object.isFrozen(result.event) && Object.isFrozen(result.event.data));
    }
  });

  test('data is optional and becomes an empty object; a resource may stand for the host', () => {
    const { host: _h, data: _d, ...rest } = good;
    const result = parseEvent(JSON.stringify({ ...rest, resource: 'queue/orders' }));
    assert.ok(result.ok);
    assert.deepEqual(result.event.data, {});
  });

  test('not JSON', () => {
    const r = rejection('{"id": "ev-1",');
    assert.equal(r.code, 'LZ_ERR_EVENT_NOT_JSON');
  });

  test('not UTF-8', () => {
    const r = rejection(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    assert.equal(r.code, 'LZ_ERR_EVENT_NOT_UTF8');
  });

  test('oversized, before any parsing', () => {
    const big = JSON.stringify({ ...good, data: { blob: 'x'.repeat(70_000) } });
    const r = rejection(big);
    assert.equal(r.code, 'LZ_ERR_EVENT_TOO_LARGE');
    assert.match(r.message, /limit is 65536/);
    assert.equal(rejection(JSON.stringify(good), 100).code, 'LZ_ERR_EVENT_TOO_LARGE');
  });

  test('missing and unknown fields are each named', () => {
    const { service: _s, ...noService } = good;
    const r = rejection(JSON.stringify({ ...noService, sevrity: 'high' }));
    assert.equal(r.code, 'LZ_ERR_EVENT_INVALID');
    assert.ok(r.errors.some((e) => e.message === 'missing required field "service"'));
    assert.ok(r.errors.some((e) => e.message === 'unknown field "sevrity"'));
  });

  test('a time that is not RFC 3339, or not a real date', () => {
    assert.ok(
      rejection(JSON.stringify({ ...good, time: '22/11/2026 03:00' })).errors.some((e) => e.path === '/time'),
    );
    assert.ok(
      rejection(JSON.stringify({ ...good, time: '2026-13-45T03:00:00Z' })).errors.some(
        (e) => e.path === '/time',
      ),
    );
  });

  test('neither host nor resource', () => {
    const { host: _h, ...rest } = good;
    assert.match(rejection(JSON.stringify(rest)).message, /"host" or the "resource"/);
  });

  test('wrong types: a list for data, a number for the id', () => {
    const r = rejection(JSON.stringify({ ...good, id: 7, data: [1, 2] }));
    assert.ok(r.errors.some((e) => e.path === '/id'));
    assert.ok(r.errors.some((e) => e.path === '/data'));
  });

  test('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.json().map((j) => Buffer.from(j)),
          fc.string(),
        ),
        (input) => {
          const result = parseEvent(input);
          assert.equal(typeof result.ok, 'boolean');
        },
      ),
      { numRuns: 2000 },
    );
  });
});
