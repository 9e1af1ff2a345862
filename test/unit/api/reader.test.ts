/**
 * The audit reader's paging and filters against a real redis-server, with records written by the
 * real writers: pages have no duplicates and no gaps (ties on the decision time included), a cursor
 * survives decisions written between pages, a rare filter never reads more than the scan cap in one
 * call, and rejected records page the same way.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { AuditReader } from '../../../src/audit/reader.js';
import type { EventFilters, EventPage } from '../../../src/audit/reader.js';
import { AuditErrorCodes } from '../../../src/audit/cursor.js';
import type { EventSummary } from '../../../src/audit/summary.js';
import { startRedis } from '../../../src/sim/redis-server.js';
import type { RedisProcess } from '../../../src/sim/redis-server.js';
import { freshKeys, writeDecisions, writeRejected, writeRun } from './fixtures.js';
import type { DecisionSpec } from './fixtures.js';

const T0 = Date.parse('2026-11-22T03:00:00Z');

/** Every page from the first, with the number of calls it took. */
async function all(
  reader: AuditReader,
  filters: EventFilters,
): Promise<{ items: EventSummary[]; pages: EventPage[] }> {
  const pages: EventPage[] = [];
  const items: EventSummary[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await reader.list({ ...filters, ...(cursor === undefined ? {} : { cursor }) });
    pages.push(page);
    items.push(...page.items);
    if (page.next === undefined) return { items, pages };
    cursor = page.next;
  }
  throw new Error('more than 1000 pages');
}

/** Newest first, ties on the time by event id descending (Redis' order of equal scores, reversed). */
function newestFirst(specs: readonly DecisionSpec[]): string[] {
  return [...specs]
    .sort((a, b) => b.decidedAt - a.decidedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((s) => s.id);
}

describe('AuditReader', () => {
  let server: RedisProcess;
  let redis: Redis;

  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  test('pages newest first with no duplicates and no gaps, ties on the time included', async () => {
    const keys = freshKeys();
    // 120 decisions; groups of up to 7 share one millisecond (a batch decided at once).
    const specs: DecisionSpec[] = Array.from({ length: 120 }, (_, i) => ({
      id: `e-${String(i).padStart(3, '0')}`,
      decidedAt: T0 + Math.floor(i / 7) * 1000,
    }));
    await writeDecisions(redis, keys, specs);
    const expected = newestFirst(specs);
    for (const limit of [1, 7, 50, 500]) {
      const { items, pages } = await all(new AuditReader(redis, keys), { limit });
      assert.deepEqual(
        items.map((e) => e.id),
        expected,
        `limit ${limit}`,
      );
      assert.ok(pages.every((p) => p.items.length <= limit));
    }
    // More entries on one millisecond than a chunk holds.
    const tied = freshKeys();
    const same: DecisionSpec[] = Array.from({ length: 23 }, (_, i) => ({ id: `t-${i}`, decidedAt: T0 }));
    await writeDecisions(redis, tied, same);
    const { items } = await all(new AuditReader(redis, tied, { chunk: 5 }), { limit: 4 });
    assert.deepEqual(
      items.map((e) => e.id),
      newestFirst(same),
    );
  });

  test('the summary carries the decision, reason, rule, coordinator, latency and run status', async () => {
    const keys = freshKeys();
    const [acted, escalated] = await writeDecisions(redis, keys, [
      { id: 'act-1', decidedAt: T0 + 2, node: 'b' },
      { id: 'esc-1', decidedAt: T0 + 1, reason: 'rate_limited' },
    ]);
    await writeRun(redis, keys, acted!, 'succeeded');
    const { items } = await new AuditReader(redis, keys).list();
    assert.deepEqual(items[0], {
      id: 'act-1',
      time: acted!.event_time,
      decided_at: acted!.decided_at,
      service: 'sms-api',
      host: 'sms-api-1',
      type: 'NagiosHostAlarm',
      decision: 'act',
      rule: 'sms-api/nagios_host_down',
      coordinator: 'b',
      latency_ms: 40,
      run: 'succeeded',
    });
    assert.equal(items[1]?.reason, 'rate_limited');
    assert.equal(items[1]?.run, undefined);
    assert.equal(escalated?.decision, 'escalate');
  });

  test('a cursor survives decisions written between pages', async () => {
    const keys = freshKeys();
    const specs: DecisionSpec[] = Array.from({ length: 30 }, (_, i) => ({
      id: `c-${String(i).padStart(2, '0')}`,
      decidedAt: T0 + i * 10,
    }));
    await writeDecisions(redis, keys, specs);
    const reader = new AuditReader(redis, keys);
    const first = await reader.list({ limit: 10 });
    // Newer decisions arrive (they belong above the first page), and one that was held back while
    // Redis was away is written late with an old time (it belongs below the cursor).
    await writeDecisions(redis, keys, [
      { id: 'new-1', decidedAt: T0 + 10_000 },
      { id: 'new-2', decidedAt: T0 + 10_001 },
      { id: 'late-old', decidedAt: T0 + 5 },
    ]);
    const rest = await all(reader, { limit: 10, cursor: first.next ?? '' });
    const ids = [...first.items, ...rest.items].map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.deepEqual(ids, newestFirst([...specs, { id: 'late-old', decidedAt: T0 + 5 }]));
  });

  test('filters, each and together, over pages; a rare filter stops at the scan cap with a cursor', async () => {
    const keys = freshKeys();
    const specs: DecisionSpec[] = Array.from({ length: 200 }, (_, i) => ({
      id: `f-${String(i).padStart(3, '0')}`,
      decidedAt: T0 + i * 100,
      service: i % 50 === 0 ? 'ledger-db' : i % 2 === 0 ? 'sms-api' : 'voice-gateway',
      host: `h-${i % 3}`,
      ...(i % 4 === 1 ? { reason: 'checks_failed' as const } : {}),
      ...(i % 10 === 3 ? { decision: 'duplicate' as const } : {}),
      ...(i % 4 === 3 && i % 10 !== 3 ? { reason: 'no_quorum' as const } : {}),
    }));
    const records = await writeDecisions(redis, keys, specs);
    const byId = new Map(records.map((r) => [r.event_id, r]));
    const reader = new AuditReader(redis, keys, { scanCap: 40, chunk: 16 });
    const check = async (filters: EventFilters, keep: (id: string) => boolean): Promise<void> => {
      const { items, pages } = await all(reader, { ...filters, limit: 7 });
      const expected = newestFirst(specs.filter((s) => keep(s.id)));
      assert.deepEqual(
        items.map((e) => e.id),
        expected,
        JSON.stringify(filters),
      );
      assert.ok(
        pages.every((p) => p.scanned <= 40),
        'no call looks at more than the scan cap',
      );
    };
    const rec = (id: string): (typeof records)[number] => byId.get(id)!;
    await check({ service: 'ledger-db' }, (id) => rec(id).service === 'ledger-db');
    await check({ status: 'escalate' }, (id) => rec(id).decision === 'escalate');
    await check({ status: 'duplicate' }, (id) => rec(id).decision === 'duplicate');
    await check({ reason: 'no_quorum' }, (id) => rec(id).reason === 'no_quorum');
    await check(
      { host: 'h-2', service: 'sms-api' },
      (id) => rec(id).host === 'h-2' && rec(id).service === 'sms-api',
    );
    await check({ since: T0 + 5_000, until: T0 + 9_900, status: 'act' }, (id) => {
      const t = Date.parse(rec(id).decided_at);
      return t >= T0 + 5_000 && t <= T0 + 9_900 && rec(id).decision === 'act';
    });
    // The rare service: 4 of 200; the first call stops at the cap with nothing yet and a cursor.
    const first = await reader.list({ service: 'ledger-db', limit: 7, since: T0, until: T0 + 13_900 });
    assert.equal(first.scanned, 40);
    assert.deepEqual(
      first.items.map((e) => e.id),
      ['f-100'],
    );
    assert.ok(first.next !== undefined);
  });

  test('an index entry whose record has expired is skipped', async () => {
    const keys = freshKeys();
    await writeDecisions(redis, keys, [
      { id: 'x-1', decidedAt: T0 + 1 },
      { id: 'x-2', decidedAt: T0 + 2 },
      { id: 'x-3', decidedAt: T0 + 3 },
    ]);
    await redis.del(keys.decision('x-2'));
    const { items } = await all(new AuditReader(redis, keys), { limit: 1 });
    assert.deepEqual(
      items.map((e) => e.id),
      ['x-3', 'x-1'],
    );
  });

  test('trace: the decision record and the run with its steps', async () => {
    const keys = freshKeys();
    const [acted, escalated] = await writeDecisions(redis, keys, [
      { id: 'tr-1', decidedAt: T0 },
      { id: 'tr-2', decidedAt: T0, reason: 'checks_failed' },
    ]);
    await writeRun(redis, keys, acted!, 'failed');
    const reader = new AuditReader(redis, keys);
    const trace = await reader.trace('tr-1');
    assert.deepEqual(trace?.decision, acted);
    assert.equal(trace?.run?.status, 'failed');
    assert.equal(trace?.run?.failure?.step, 'boot');
    assert.deepEqual(Object.keys(trace?.run?.steps ?? {}).sort(), [
      'acknowledge',
      'boot',
      'lb_out',
      'verify',
    ]);
    assert.equal(trace?.run?.steps['boot']?.error, 'orchestrator answered 500');
    const noRun = await reader.trace('tr-2');
    assert.deepEqual(noRun?.decision, escalated);
    assert.equal(noRun?.run, undefined);
    assert.deepEqual(noRun?.audit, []);
    assert.equal(noRun?.timeline.at(-1)?.stage, 'decision');
    assert.equal(await reader.trace('nope'), undefined);
  });

  test('rejected records: listed as rejected, paged across pushes, filtered, found by id', async () => {
    const keys = freshKeys();
    const written = [];
    for (let i = 0; i < 25; i++) {
      written.push(
        await writeRejected(
          redis,
          keys,
          i % 5 === 0
            ? 'not json at all'
            : JSON.stringify({ id: `r-${i}`, service: i % 2 === 0 ? 'sms-api' : 'search', host: 'h' }),
          { at: T0 + i, code: i % 5 === 0 ? 'LZ_ERR_EVENT_NOT_JSON' : 'LZ_ERR_EVENT_INVALID' },
        ),
      );
    }
    const newest = [...written].reverse();
    const reader = new AuditReader(redis, keys, { chunk: 4 });
    const first = await reader.list({ status: 'rejected', limit: 6 });
    assert.equal(first.items[0]?.decision, 'rejected');
    assert.equal(first.items[0]?.id, `rejected:${newest[0]?.shard}:${newest[0]?.sequence}`);
    // More are rejected between two pages: they are above the cursor and do not shift it.
    await writeRejected(redis, keys, '{"id":"later"}', { at: T0 + 100 });
    await writeRejected(redis, keys, '{"id":"later2"}', { at: T0 + 101 });
    const rest = await all(reader, { status: 'rejected', limit: 6, cursor: first.next ?? '' });
    const ids = [...first.items, ...rest.items].map((e) => e.id);
    assert.deepEqual(
      ids,
      newest.map((r) => `rejected:${r.shard}:${r.sequence}`),
    );

    const notJson = await all(reader, { status: 'rejected', reason: 'LZ_ERR_EVENT_NOT_JSON', limit: 2 });
    assert.equal(notJson.items.length, 5);
    assert.ok(notJson.items.every((e) => e.reason === 'LZ_ERR_EVENT_NOT_JSON' && e.service === ''));
    const search = await all(reader, { status: 'rejected', service: 'search', limit: 50 });
    assert.equal(search.items.length, written.filter((_, i) => i % 5 !== 0 && i % 2 === 1).length);

    const target = written[7]!;
    assert.deepEqual(await reader.findRejected(`rejected:${target.shard}:${target.sequence}`), target);
    assert.equal(await reader.findRejected('rejected:shardId-9:1'), undefined);

    const raw = await reader.rejected({ limit: 3 });
    assert.equal(raw.items.length, 3);
    assert.equal(raw.items[0]?.raw, Buffer.from('{"id":"later2"}').toString('base64'));
  });

  test('a cursor that was not handed out, or of the other listing, is refused', async () => {
    const keys = freshKeys();
    await writeDecisions(redis, keys, [
      { id: 'k-1', decidedAt: T0 },
      { id: 'k-2', decidedAt: T0 + 1 },
    ]);
    await writeRejected(redis, keys, 'x');
    await writeRejected(redis, keys, 'y');
    const reader = new AuditReader(redis, keys);
    const events = await reader.list({ limit: 1 });
    const rejected = await reader.list({ status: 'rejected', limit: 1 });
    for (const filters of [
      { cursor: 'garbage!' },
      { cursor: Buffer.from('{"k":"d"}').toString('base64url') },
      { cursor: rejected.next ?? '' },
      { status: 'rejected' as const, cursor: events.next ?? '' },
    ]) {
      await assert.rejects(
        reader.list(filters),
        { code: AuditErrorCodes.BAD_CURSOR },
        JSON.stringify(filters),
      );
    }
  });
});
