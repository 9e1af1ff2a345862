/**
 * Poison never blocks a shard: records of arbitrary shape and size, within the envelope's bounds and
 * beyond them, go through the real pipeline against a real redis-server. Each ends as exactly one
 * decision or one rejected record, the batch never fails (it would be retried for ever), and the
 * next valid event of the shard is decided. Redis' own failures stay apart: they are retried, never
 * set aside.
 */
import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { isRetryable, viaRedis } from '../../src/common/dependency.js';
import { LzError } from '../../src/common/errors.js';
import { connectRedis } from '../../src/controller/redis-client.js';
import { parseEvent } from '../../src/events/parse.js';
import { startRedis } from '../../src/sim/redis-server.js';
import { PipelineRig } from '../helpers/pipeline.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 2, rate_limit_threshold: 10000 }
  voice-gateway:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
`;

/** A record as a sensor (or an attacker) might write it. */
type Input = { readonly kind: string; readonly bytes: Uint8Array };

const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
let serial = 0;
const envelope = (overrides: Record<string, unknown>): Record<string, unknown> => ({
  id: `prop-${process.pid}-${++serial}`,
  type: 'NagiosHostAlarm',
  source: 'prop',
  time: new Date(Date.parse('2026-12-01T03:00:00Z')).toISOString(),
  environment: 'prod',
  service: 'sms-api',
  host: 'sms-api-4',
  ...overrides,
});
/** `{"n":[{"n":[…"leaf"…]}]}`, `depth` levels, written as text: no recursive walk of it here either. */
const nestedText = (depth: number): string => {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += i % 2 === 0 ? '{"n":' : '[';
    close = (i % 2 === 0 ? '}' : ']') + close;
  }
  return `${open}"leaf"${close}`;
};

/** Counterexamples name the kind and size, not every byte of 64 KiB of nesting. */
const described = (i: Input): Input =>
  Object.assign(i, { [fc.toStringMethod]: () => `${i.kind}(${i.bytes.length} bytes)` });

const inputArb: fc.Arbitrary<Input> = fc
  .oneof(
    // Any JSON in data, within the bounds (the kinds below go beyond them).
    fc
      .record({
        data: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 5 }), { maxKeys: 8 }),
        host: fc.constantFrom('sms-api-1', 'sms-api-4', 'ghost-9'),
        type: fc.constantFrom('NagiosHostAlarm', 'HealthcheckDown', 'Unknown'),
      })
      .map(({ data, host, type }) => ({ kind: 'json-data', bytes: json(envelope({ data, host, type })) })),
    // Nesting from shallow to far past the limit, of objects and arrays.
    fc.integer({ min: 1, max: 20_000 }).map((depth) => ({
      kind: 'deep',
      bytes: Buffer.from(
        JSON.stringify(envelope({ data: { x: 'DEEP' } })).replace('"DEEP"', nestedText(depth)),
      ),
    })),
    // Wide arrays, long strings, many keys.
    fc.integer({ min: 200, max: 3_000 }).map((n) => ({
      kind: 'wide',
      bytes: json(envelope({ data: { list: Array.from({ length: n }, (_, i) => i % 7) } })),
    })),
    fc.integer({ min: 10_000, max: 70_000 }).map((n) => ({
      kind: 'long-string',
      bytes: json(envelope({ data: { output: 'x'.repeat(n) } })),
    })),
    fc.integer({ min: 50, max: 80 }).map((n) => ({
      kind: 'many-keys',
      bytes: json(
        envelope({ data: { inner: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])) } }),
      ),
    })),
    // Not an event at all.
    fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: 'bytes', bytes })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: 'json', bytes: json(v) })),
    fc.string({ maxLength: 100 }).map((t) => ({ kind: 'text', bytes: Buffer.from(t) })),
    // Valid, but it cannot be processed: an AWS event about a resource, whose rule locks a host.
    fc.constant(null).map(() => ({
      kind: 'unprocessable',
      bytes: json(
        envelope({
          type: 'AWSScheduledEvent',
          host: undefined,
          resource: 'i-0abc',
          data: { event_code: 'instance-retirement' },
        }),
      ),
    })),
  )
  .map(described);

describe('poison never blocks a shard', { timeout: 600_000 }, () => {
  let rig: PipelineRig;
  before(async () => {
    rig = await PipelineRig.start({ services: SERVICES });
  });
  after(() => rig?.stop());
  beforeEach(() => rig.reset());

  test('arbitrary records between two valid events: each one decision or one rejected record; the batch never fails', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(inputArb, { minLength: 1, maxLength: 6 }), async (inputs) => {
        const first = rig.hostDown('voice-gateway', 'voice-gateway-1');
        const last = rig.hostDown('voice-gateway', 'voice-gateway-2');
        const records = [first, ...inputs.map((i) => i.bytes), last].map((d) => rig.record(d, 'one-lane'));
        // Never rejects: a rejection is a batch retried, its shard stopped.
        const outcomes = await rig.handle(records);
        const rejected = new Map((await rig.rejected()).map((r) => [r.sequence, r]));
        for (const [i, record] of records.entries()) {
          seen.add(i === 0 || i === records.length - 1 ? 'valid' : inputs[i - 1]!.kind);
          const parsed = parseEvent(record.data, { maxBytes: rig.config.region.events.maxBytes });
          const decision = parsed.ok ? await rig.decision(parsed.event.id) : undefined;
          const set = rejected.get(record.sequenceNumber);
          const what = `${i === 0 ? 'first' : (inputs[i - 1]?.kind ?? 'last')} #${i}: ${outcomes[i]}`;
          assert.equal(
            Number(decision !== undefined) + Number(set !== undefined),
            1,
            `${what}: exactly one decision or one rejected record`,
          );
          if (!parsed.ok) assert.equal(set?.code, parsed.rejection.code, what);
          if (set !== undefined) {
            assert.equal(outcomes[i], 'rejected', what);
            assert.ok(
              set.message.length > 0 && (set.raw.length > 0 || record.data.length === 0),
              `${what}: the reason and the first bytes`,
            );
            assert.deepEqual(
              Buffer.from(set.raw, 'base64'),
              Buffer.from(record.data.subarray(0, 4096)),
              `${what}: its first bytes as read`,
            );
          }
        }
        // The valid events on both sides are decided on their merits.
        for (const e of [first, last])
          assert.ok(await rig.decision(String(e['id'])), `${String(e['id'])} decided`);
      }),
      { numRuns: 40 },
    );
    for (const kind of ['valid', 'deep', 'wide', 'unprocessable'])
      assert.ok(seen.has(kind), `generated ${kind}`);
  });

  test('an event that cannot be processed is set aside with the error, and its shard goes on', async () => {
    const poison = envelope({
      type: 'AWSScheduledEvent',
      host: undefined,
      resource: 'i-0abc',
      data: { event_code: 'instance-retirement' },
    });
    const next = rig.hostDown('sms-api', 'sms-api-2');
    rig.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const records = [rig.record(poison), rig.record(next)];
    assert.deepEqual(await rig.handle(records), ['decided', 'decided']);
    // Its claim was this node's: a decision that says so, without the data, with the first bytes.
    const d = await rig.decision(String(poison['id']));
    assert.equal(d?.decision, 'escalate');
    assert.equal(d?.reason, 'unprocessable');
    assert.match(d?.error ?? '', /^LZ_ERR_EVENT_UNPROCESSABLE: .*needs a host name/);
    assert.equal(d?.set_aside?.code, 'LZ_ERR_EVENT_UNPROCESSABLE');
    assert.deepEqual(Buffer.from(d?.set_aside?.raw ?? '', 'base64'), Buffer.from(records[0]!.data));
    assert.deepEqual(d?.event.data, {});
    assert.equal(await rig.redis.exists(rig.keys.claim(String(poison['id']))), 0, 'its claim is freed');
    assert.equal(await rig.locks.holder('host:sms-api/i-0abc').catch(() => undefined), undefined);
    assert.equal((await rig.decision(String(next['id'])))?.decision, 'act');
    // Read again (a takeover re-reads from the checkpoint): decided once, nothing voted again.
    assert.deepEqual(await rig.handle(records), ['already_decided', 'already_decided']);
    assert.equal((await rig.rejected()).length, 0);
  });

  test('a remediation record that cannot be read under the lock: set aside, and the lock is freed', async () => {
    rig.fleet.inject({ kind: 'host_down', host: 'sms-api-3' });
    const e = rig.hostDown('sms-api', 'sms-api-3');
    // Written while the votes are counted, after the first read: the read under the lock fails.
    rig.duringVotes = async () => {
      await rig.redis.set(rig.keys.remediated('sms-api', 'sms-api-3'), 'not json');
    };
    assert.deepEqual(await rig.handle([rig.record(e)]), ['decided']);
    assert.equal((await rig.decision(String(e['id'])))?.reason, 'unprocessable');
    assert.equal(
      await rig.locks.holder('host:sms-api/sms-api-3'),
      undefined,
      'the lock taken for it is freed',
    );
  });
});

describe('what Redis says apart from what a record is', { timeout: 60_000 }, () => {
  test('a script error or a wrong type is a refusal, not retried; a server gone is retried', async () => {
    const server = await startRedis();
    const redis = await connectRedis(server.url);
    try {
      const refused = await viaRedis('eval', () => redis.eval("error('boom')", 0)).catch((e: unknown) => e);
      assert.ok(refused instanceof LzError);
      assert.equal(refused.code, 'LZ_ERR_REDIS_REFUSED');
      assert.equal(isRetryable(refused), false);
      await redis.lpush('a-list', 'x');
      const wrong = await viaRedis('get', () => redis.get('a-list')).catch((e: unknown) => e);
      assert.equal((wrong as LzError).code, 'LZ_ERR_REDIS_REFUSED');
      // Redis' own state (loading, busy, out of memory) and a server gone are dependency failures.
      await redis.config('SET', 'maxmemory', '1');
      const full = await viaRedis('set', () => redis.set('k', 'v'.repeat(1000))).catch((e: unknown) => e);
      assert.match((full as Error).message, /OOM/);
      assert.equal(isRetryable(full), true);
      await redis.config('SET', 'maxmemory', '0');
      await server.stop();
      const gone = await viaRedis('get', () => redis.get('k')).catch((e: unknown) => e);
      assert.equal((gone as LzError).code, 'LZ_ERR_DEPENDENCY_DOWN');
      assert.equal(isRetryable(gone), true);
      // Anything that is not an LzError is the record's own problem.
      assert.equal(isRetryable(new RangeError('Maximum call stack size exceeded')), false);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
