import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseEvent } from '../../../src/events/parse.js';
import { SHAPE_LIMITS, checkShape } from '../../../src/events/shape.js';

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

  test("submitted_by: the API's stamp is part of the envelope; a stamp of another shape is refused", () => {
    const stamp = { via: 'api', token: 'nagios', node: 'b' };
    const result = parseEvent(JSON.stringify({ ...good, submitted_by: stamp }));
    assert.ok(result.ok);
    assert.deepEqual(result.event.submitted_by, stamp);
    const plain = parseEvent(JSON.stringify(good));
    assert.ok(plain.ok);
    assert.equal(plain.event.submitted_by, undefined, 'a sensor writes none');
    for (const [bad, path] of [
      ['me', '/submitted_by'],
      [{ via: 'stream', token: 'x', node: 'a' }, '/submitted_by/via'],
      [{ via: 'api', token: 'nagios' }, '/submitted_by'],
      [{ via: 'api', token: 'a b', node: 'a' }, '/submitted_by/token'],
      [{ ...stamp, at: 'now' }, '/submitted_by'],
    ] as const) {
      const r = rejection(JSON.stringify({ ...good, submitted_by: bad }));
      assert.equal(r.code, 'LZ_ERR_EVENT_INVALID', JSON.stringify(bad));
      assert.ok(
        r.errors.some((e) => e.path === path),
        `${JSON.stringify(bad)}: ${JSON.stringify(r.errors)}`,
      );
    }
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

describe('the shape of an event is bounded, not only its size', () => {
  const nested = (depth: number, leaf: unknown = 1): unknown => {
    let v = leaf;
    for (let i = 0; i < depth; i++) v = { a: v };
    return v;
  };
  const withData = (data: unknown): string => JSON.stringify({ ...good, data });

  test('64 KiB of nesting, which overflows every recursive walk, is refused at once with its place', () => {
    const depth = 30_000;
    const text = JSON.stringify({ ...good, data: { x: 0 } }).replace(
      '{"x":0}',
      '{"x":'.repeat(depth) + '0' + '}'.repeat(depth),
    );
    assert.ok(text.length < 65_536 * 4);
    const r = rejection(text, 1 << 20);
    assert.equal(r.code, 'LZ_ERR_EVENT_TOO_DEEP');
    assert.equal(r.errors[0]?.path, '/data/x/x/x/x/x/x/x/x/x');
    assert.match(r.message, /deeper than 10 levels/);
  });

  test('each bound at its edge: the last value within passes, the first beyond is refused with its code', () => {
    // The envelope is level 1 and data level 2: data may hold objects 8 levels below itself.
    assert.ok(parseEvent(withData(nested(9))).ok);
    assert.equal(rejection(withData(nested(10))).code, 'LZ_ERR_EVENT_TOO_DEEP');
    const items = (n: number): unknown => ({ list: Array.from({ length: n }, (_, i) => i) });
    assert.ok(parseEvent(withData(items(SHAPE_LIMITS.maxItems))).ok);
    const many = rejection(withData(items(SHAPE_LIMITS.maxItems + 1)));
    assert.deepEqual([many.code, many.errors[0]?.path], ['LZ_ERR_EVENT_TOO_MANY_ITEMS', '/data/list']);
    assert.ok(parseEvent(withData({ text: 'x'.repeat(SHAPE_LIMITS.maxString) })).ok);
    const long = rejection(withData({ text: 'x'.repeat(SHAPE_LIMITS.maxString + 1) }));
    assert.deepEqual([long.code, long.errors[0]?.path], ['LZ_ERR_EVENT_STRING_TOO_LONG', '/data/text']);
    const key = rejection(withData({ ['k'.repeat(SHAPE_LIMITS.maxString + 1)]: 1 }));
    assert.equal(key.code, 'LZ_ERR_EVENT_STRING_TOO_LONG');
    assert.ok((key.errors[0]?.path.length ?? 0) < 100, 'a huge key is cut short in the path');
    const keys = (n: number): Record<string, number> =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    assert.ok(parseEvent(withData({ inner: keys(SHAPE_LIMITS.maxKeys) })).ok);
    const wide = rejection(withData({ inner: keys(SHAPE_LIMITS.maxKeys + 1) }));
    assert.deepEqual([wide.code, wide.errors[0]?.path], ['LZ_ERR_EVENT_TOO_MANY_KEYS', '/data/inner']);
    // Many small objects, each within bounds: the whole document has too many keys and items.
    const spread = { a: Array.from({ length: 200 }, () => keys(12)) };
    const total = rejection(withData(spread), 1 << 20);
    assert.equal(total.code, 'LZ_ERR_EVENT_TOO_MANY_KEYS');
    assert.match(total.message, /in the whole event/);
  });

  test('a pointer escapes / and ~ in keys (RFC 6901)', () => {
    const r = rejection(withData({ 'a/b~c': nested(10) }));
    assert.ok(r.errors[0]?.path.startsWith('/data/a~1b~0c/'), r.errors[0]?.path);
  });

  test('any JSON value: refused exactly when a model of the bounds says so, never a throw', () => {
    interface Model {
      depth: number;
      items: number;
      string: number;
      keys: number;
      nodes: number;
    }
    const measure = (
      v: unknown,
      depth = 1,
      m: Model = { depth: 0, items: 0, string: 0, keys: 0, nodes: 0 },
    ): Model => {
      if (typeof v === 'string') m.string = Math.max(m.string, v.length);
      else if (Array.isArray(v)) {
        m.depth = Math.max(m.depth, depth);
        m.items = Math.max(m.items, v.length);
        m.nodes += v.length;
        for (const x of v) measure(x, depth + 1, m);
      } else if (typeof v === 'object' && v !== null) {
        m.depth = Math.max(m.depth, depth);
        const ks = Object.keys(v);
        m.keys = Math.max(m.keys, ks.length);
        m.nodes += ks.length;
        for (const k of ks) {
          m.string = Math.max(m.string, k.length);
          measure((v as Record<string, unknown>)[k], depth + 1, m);
        }
      }
      return m;
    };
    const small: typeof SHAPE_LIMITS = { maxDepth: 4, maxItems: 5, maxString: 8, maxKeys: 4, maxNodes: 20 };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const m = measure(value);
        const within =
          m.depth <= small.maxDepth &&
          m.items <= small.maxItems &&
          m.string <= small.maxString &&
          m.keys <= small.maxKeys &&
          m.nodes <= small.maxNodes;
        const found = checkShape(value, small);
        assert.equal(found === undefined, within, JSON.stringify({ m, found }));
      }),
      { numRuns: 3000 },
    );
  });
});
