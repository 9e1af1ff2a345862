/**
 * The API's stamp of who submitted an event (`submitted_by`): always the API's own, whatever the
 * client sent in the field, and the stamped bytes are what the nodes will accept.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { stampEvent } from '../../../src/api/submission.js';
import { parseEvent } from '../../../src/events/parse.js';

const STAMP = { via: 'api', token: 'nagios', node: 'b' } as const;
const MAX = 65536;

const event = {
  id: 'ev-1',
  type: 'NagiosHostAlarm',
  source: 'nagios',
  time: '2026-11-22T03:00:00Z',
  environment: 'prod',
  service: 'sms-api',
  host: 'sms-api-3',
  data: { host_state: 'DOWN', host_state_type: 'HARD' },
};

function stamped(body: string): { bytes: Buffer; replaced?: unknown } {
  const result = stampEvent(Buffer.from(body), STAMP, MAX);
  assert.ok(result.ok, result.ok ? '' : result.rejection.message);
  assert.deepEqual(result.event.submitted_by, STAMP);
  // What goes on the stream parses, with the API's stamp, as the nodes will read it.
  const onStream = parseEvent(result.bytes);
  assert.ok(onStream.ok);
  assert.deepEqual(onStream.event, result.event);
  return result;
}

describe('stampEvent', () => {
  test("an event without a stamp gets the API's: the token name and the node, nothing else changed", () => {
    const { bytes, replaced } = stamped(JSON.stringify(event));
    assert.deepEqual(JSON.parse(bytes.toString('utf8')), { ...event, submitted_by: STAMP });
    assert.equal(replaced, undefined);
  });

  test("a client's stamp is overwritten, whatever it claims: another token, another node, another shape", () => {
    const claims: unknown[] = [
      { via: 'api', token: 'default', node: 'a' },
      { via: 'api', token: 'nagios', node: 'b', extra: 'x' },
      'the on-call lead',
      null,
      { via: 'stream' },
      [],
    ];
    for (const claim of claims) {
      const { bytes, replaced } = stamped(JSON.stringify({ ...event, submitted_by: claim }));
      const onStream = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      assert.deepEqual(onStream['submitted_by'], STAMP, JSON.stringify(claim));
      assert.deepEqual(replaced, claim, 'the claim is handed back for the log');
    }
    // JSON takes the last of two keys of one name: both are gone, the API's is the only one.
    const twice = `{"submitted_by":{"via":"api","token":"x","node":"a"},${JSON.stringify(event).slice(1, -1)},"submitted_by":{"via":"api","token":"default","node":"c"}}`;
    const { bytes } = stamped(twice);
    assert.equal(bytes.toString('utf8').match(/submitted_by/g)?.length, 1);
  });

  test('what a sensor would be refused for is refused as it is; the errors of the rest are named', () => {
    for (const [body, code] of [
      ['{"id": ', 'LZ_ERR_EVENT_NOT_JSON'],
      ['[1, 2]', 'LZ_ERR_EVENT_INVALID'],
      ['"text"', 'LZ_ERR_EVENT_INVALID'],
      [
        `${JSON.stringify(event).slice(0, -1)},"resource":${'['.repeat(12)}${']'.repeat(12)}}`,
        'LZ_ERR_EVENT_TOO_DEEP',
      ],
    ] as const) {
      const result = stampEvent(Buffer.from(body), STAMP, MAX);
      assert.equal(result.ok, false, body);
      assert.equal(result.ok ? '' : result.rejection.code, code, body);
    }
    const { source: _s, ...noSource } = event;
    const invalid = stampEvent(
      Buffer.from(JSON.stringify({ ...noSource, colour: 'red', submitted_by: 'me' })),
      STAMP,
      MAX,
    );
    assert.ok(!invalid.ok);
    assert.deepEqual(
      invalid.rejection.errors.map((e) => e.message).sort(),
      ['missing required field "source"', 'unknown field "colour"'],
      "the client's stamp is not among the problems: it is replaced",
    );
  });

  test('the stamp counts in the size limit: an event that fits only without it is refused, saying so', () => {
    const body = JSON.stringify(event);
    const tight = stampEvent(Buffer.from(body), STAMP, Buffer.byteLength(body) + 10);
    assert.ok(!tight.ok);
    assert.equal(tight.rejection.code, 'LZ_ERR_EVENT_TOO_LARGE');
    assert.match(tight.rejection.message, /bytes with the API's submitted_by stamp; the limit is \d+$/);
  });
});
