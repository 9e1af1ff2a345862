/**
 * KPL aggregated records end to end. First through the real pipeline against a real redis-server
 * (each user record its own outcome; rejected user records of one aggregate listed once each, also
 * when the batch is read again); then with real parts only: kinesis-local, the SDK's
 * `PutRecordCommand`, three node processes voting over gRPC. An aggregate of three events is three
 * decisions; a corrupt aggregate is one rejected record and the shard goes on; a node killed after
 * deciding one of an aggregate's three events leaves the other two to the next node, decided once,
 * and nothing is remediated twice.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { expand } from '../../src/ingest/kpl.js';
import type { Attempt } from '../../src/controller/decision-store.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { REPO } from '../helpers/config-copy.js';
import { ClusterProbe, compareSequence, hostDown } from '../helpers/cluster.js';
import type { TestEvent } from '../helpers/cluster.js';
import { aggregated, corruptChecksum } from '../helpers/kpl.js';
import { PipelineRig } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
  voice-gateway:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
`;

const json = (value: unknown): string => JSON.stringify(value);
const keyOf = (e: { service?: unknown; host?: unknown }): string => `${String(e.service)}/${String(e.host)}`;

describe('KPL aggregates through the pipeline', { timeout: 120_000 }, () => {
  let rig: PipelineRig;
  before(async () => {
    rig = await PipelineRig.start({ services: SERVICES });
  });
  after(() => rig?.stop());
  beforeEach(() => rig.reset());

  test('each user record its own outcome; two rejected user records of one aggregate are two rejected records, listed once each when the batch is read again', async () => {
    const good = rig.hostDown('sms-api', 'sms-api-3', {
      data: { host_state: 'UP', host_state_type: 'HARD' },
    });
    const agg = await aggregated([
      { partitionKey: 'sms-api/sms-api-1', data: '{"id": "broken", ' },
      { partitionKey: keyOf(good), data: json(good) },
      { partitionKey: 'sms-api/sms-api-2', data: json({ id: 'no-service', type: 'NagiosHostAlarm' }) },
    ]);
    const records = expand(rig.record(agg.data, agg.partitionKey));
    assert.equal(records.length, 3);
    assert.deepEqual(await rig.handle(records), ['rejected', 'decided', 'rejected']);
    const rejected = async () =>
      (await rig.rejected())
        .map((r) => [r.sequence, r.sub_sequence, r.code, Buffer.from(r.raw, 'base64').toString()])
        .sort((a, b) => Number(a[1]) - Number(b[1]));
    const expected = [
      [records[0]?.sequenceNumber, 0, 'LZ_ERR_EVENT_NOT_JSON', '{"id": "broken", '],
      [
        records[2]?.sequenceNumber,
        2,
        'LZ_ERR_EVENT_INVALID',
        json({ id: 'no-service', type: 'NagiosHostAlarm' }),
      ],
    ];
    assert.deepEqual(await rejected(), expected, 'each with its sub-sequence and its own bytes');
    const decided = await rig.decision(String(good['id']));
    assert.deepEqual(decided?.source, {
      shard: records[1]?.shardId,
      sequence: records[1]?.sequenceNumber,
      sub_sequence: 1,
    });
    // Read again (a retried batch, a takeover): nothing listed twice, nothing decided twice.
    assert.deepEqual(await rig.handle(records), ['rejected', 'already_decided', 'rejected']);
    assert.deepEqual(await rejected(), expected);
  });

  test('a broken aggregate is one rejected record with the reason and its first bytes', async () => {
    const agg = await aggregated([
      { partitionKey: 'a', data: json(rig.hostDown('sms-api', 'sms-api-1')) },
      { partitionKey: 'b', data: 'x'.repeat(5000) },
    ]);
    const bad = corruptChecksum(agg.data);
    const records = expand(rig.record(bad, agg.partitionKey));
    assert.deepEqual(await rig.handle(records), ['rejected']);
    const [r, ...more] = await rig.rejected();
    assert.equal(more.length, 0);
    assert.equal(r?.code, 'LZ_ERR_EVENT_BAD_AGGREGATE');
    assert.match(r?.message ?? '', /^KPL aggregated record: MD5 checksum does not match/);
    assert.equal(r?.sub_sequence, undefined);
    assert.equal(r?.size, bad.length);
    assert.deepEqual(Buffer.from(r?.raw ?? '', 'base64'), bad.subarray(0, 4096));
  });
});

describe('KPL aggregates on a real stream, three nodes', { timeout: 300_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;

  before(async () => {
    stack = await LocalStack.start({
      shards: 1,
      services: SERVICES,
      region: {
        thresholds: { vote_timeout: '3s' },
        kinesis: { lease_ttl: '3s', poll_interval: '50ms' },
        // A claim lasts 2 × vote_timeout + 1 s + the budget: the takeover waits out 22 s, not 57.
        pagerduty: { budget: '15s' },
      },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  /** Puts one KPL aggregated record of `events` with the SDK (each user record keyed `service/host`). */
  async function putAggregate(
    events: readonly (TestEvent | string)[],
  ): Promise<{ shard: string; sequence: string }> {
    const agg = await aggregated(
      events.map((e, i) =>
        typeof e === 'string'
          ? { partitionKey: `raw-${i}`, data: e }
          : { partitionKey: keyOf(e), data: json(e) },
      ),
    );
    return probe.put(agg.data, agg.partitionKey);
  }

  const up = (host: string): TestEvent =>
    hostDown(host.replace(/-\d+$/, ''), host, { data: { host_state: 'UP', host_state_type: 'HARD' } });

  test('an aggregate of three events put with PutRecord: three decisions, each with its sub-sequence', async () => {
    const events = [up('sms-api-4'), up('voice-gateway-3'), up('sms-api-5')];
    const put = await putAggregate(events);
    for (const [i, e] of events.entries()) {
      const d = await probe.waitDecision(e.id);
      assert.equal(d.decision, 'escalate', e.id);
      assert.equal(d.reason, 'no_rule', 'an UP report matches no rule');
      assert.equal(d.service, e.service);
      assert.equal(d.host, e.host);
      assert.deepEqual(d.source, { shard: put.shard, sequence: put.sequence, sub_sequence: i });
    }
    await waitFor('the checkpoint at the aggregate', async () =>
      (await probe.checkpoint(put.shard)) === put.sequence ? true : undefined,
    );
  });

  test('a corrupt aggregate: one rejected record, and the shard goes on; a bad user record alone is rejected, listed with its sub-sequence', async () => {
    const inner = up('sms-api-6');
    const after = up('voice-gateway-4');
    const agg = await aggregated([
      { partitionKey: 'a', data: json(up('sms-api-4')) },
      { partitionKey: 'b', data: json(up('sms-api-5')) },
    ]);
    const bad = corruptChecksum(agg.data);
    const corrupt = await probe.put(bad, agg.partitionKey);
    const mixed = await putAggregate(['{"id": "half', inner]);
    const next = await probe.put(after);
    assert.equal(new Set([corrupt.shard, mixed.shard, next.shard]).size, 1);

    // Decided after them, on the same shard: neither stopped it.
    assert.equal((await probe.waitDecision(after.id)).reason, 'no_rule');
    assert.deepEqual((await probe.waitDecision(inner.id)).source, {
      shard: mixed.shard,
      sequence: mixed.sequence,
      sub_sequence: 1,
    });
    const rejected = await probe.rejected();
    const whole = rejected.filter((r) => r.sequence === corrupt.sequence);
    assert.equal(whole.length, 1, 'one rejected record for the whole aggregate');
    assert.equal(whole[0]?.code, 'LZ_ERR_EVENT_BAD_AGGREGATE');
    assert.match(whole[0]?.message ?? '', /^KPL aggregated record: MD5 checksum does not match/);
    assert.equal(whole[0]?.sub_sequence, undefined);
    assert.deepEqual(Buffer.from(whole[0]?.raw ?? '', 'base64'), bad.subarray(0, 4096));
    const half = rejected.filter((r) => r.sequence === mixed.sequence);
    assert.deepEqual(
      half.map((r) => [r.sub_sequence, r.code, Buffer.from(r.raw, 'base64').toString()]),
      [[0, 'LZ_ERR_EVENT_NOT_JSON', '{"id": "half']],
    );
    await waitFor('the checkpoint past the last record', async () => {
      const cp = await probe.checkpoint(next.shard);
      return cp !== undefined && compareSequence(cp, next.sequence) >= 0 ? cp : undefined;
    });

    // As an operator lists them: `lazarus events --status rejected`, then one of them.
    const cli = async (...args: string[]): Promise<string> =>
      (
        await promisify(execFile)(
          process.execPath,
          ['--import', 'tsx', join(REPO, 'src', 'cli', 'main.ts'), ...args, '--api', stack.apiUrl('a')],
          { cwd: REPO },
        )
      ).stdout;
    const listed = await cli('events', '--status', 'rejected');
    const halfId = `rejected:${mixed.shard}:${mixed.sequence}:0`;
    assert.match(listed, new RegExp(`${halfId}\\s.*LZ_ERR_EVENT_NOT_JSON`));
    assert.match(
      listed,
      new RegExp(`rejected:${corrupt.shard}:${corrupt.sequence}\\s.*LZ_ERR_EVENT_BAD_AGGREGATE`),
    );
    assert.match(
      await cli('event', halfId),
      new RegExp(`sequence ${mixed.sequence} user record 0 \\(KPL aggregate\\)`),
    );
  });

  test("a node killed after deciding one of an aggregate's three events: the next node decides the other two, once; nothing is remediated twice", async () => {
    // Three hosts really down. The first event has no page and is decided at once; the other two
    // are paged, and PagerDuty holds every answer: their node is stuck mid-decision, after the
    // votes and the lock, acknowledging the page, when it is killed.
    const [first, second, third] = [
      hostDown('sms-api', 'sms-api-1'),
      hostDown('sms-api', 'sms-api-2', { incident_key: `PD-kpl-2-${process.pid}` }),
      hostDown('voice-gateway', 'voice-gateway-1', { incident_key: `PD-kpl-3-${process.pid}` }),
    ] as const;
    for (const e of [first, second, third]) stack.fleet.inject({ kind: 'host_down', host: e.host ?? '' });
    for (const e of [second, third]) probe.page(e);
    stack.pagerduty.slow(120_000);
    const clonesBefore = stack.fleet.clones().length;
    const put = await putAggregate([first, second, third]);

    const attempt = async (id: string): Promise<Attempt | undefined> => {
      const text = await probe.redis.get(probe.keys.attempt(id));
      return text === null ? undefined : (JSON.parse(text) as Attempt);
    };
    // The first decided, its remediation over; the other two acknowledging their pages.
    const stuck = await waitFor(
      'the first event remediated and the other two acknowledging',
      async () => {
        const run = await probe.run(`run-${first.id}`);
        if (run === undefined || run.status === 'running') return undefined;
        const [a2, a3] = await Promise.all([attempt(second.id), attempt(third.id)]);
        return a2?.acknowledged === true && a3?.acknowledged === true ? ([a2, a3] as const) : undefined;
      },
      30_000,
      50,
    );
    const victim = stuck[0].node;
    assert.equal(stuck[1].node, victim, 'one node reads the shard');
    assert.equal((await probe.decision(first.id))?.coordinator.node, victim);
    assert.equal((await probe.decision(first.id))?.decision, 'act');
    for (const e of [second, third]) assert.equal(await probe.decision(e.id), undefined, `${e.id} undecided`);
    assert.notEqual(
      await probe.checkpoint(put.shard),
      put.sequence,
      'the checkpoint is not past the aggregate',
    );
    await stack.killNode(victim, 'SIGKILL');
    stack.pagerduty.slow(0);

    for (const e of [second, third]) {
      const d = await probe.waitDecision(e.id, 90_000);
      assert.equal(d.decision, 'act', `${e.id}: ${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
      assert.notEqual(d.coordinator.node, victim);
      assert.equal(d.earlier_attempt?.node, victim, 'taken over from the killed node');
      assert.equal(d.source.sequence, put.sequence);
      const r = await probe.finished(`run-${e.id}`);
      assert.equal(r.status, 'succeeded', JSON.stringify(r.failure));
    }
    await waitFor('the checkpoint at the aggregate', async () =>
      (await probe.checkpoint(put.shard)) === put.sequence ? true : undefined,
    );

    // Each decided exactly once (one decision line across the nodes' logs), each host cloned once.
    const lines = new Map<string, number>();
    const again: string[] = [];
    for (const node of ['a', 'b', 'c']) {
      const text = await readFile(`${stack.workDir}/logs/node-${node}.log`, 'utf8');
      for (const line of text.split('\n')) {
        if (line.includes(first.id) && line.includes('already decided; delivered again')) again.push(node);
        if (!line.includes('"decision"')) continue;
        const entry = JSON.parse(line) as { event?: string };
        if (entry.event !== undefined) lines.set(entry.event, (lines.get(entry.event) ?? 0) + 1);
      }
    }
    for (const e of [first, second, third]) assert.equal(lines.get(e.id), 1, `${e.id} decided once`);
    // The aggregate was read again from the checkpoint: its first event found decided, by its id.
    assert.ok(
      again.some((node) => node !== victim),
      `the first event read again by a survivor (${again.join(', ')})`,
    );
    const clones = stack.fleet.clones().slice(clonesBefore);
    const hosts = clones.map((c) => (c.body as { host?: string }).host).sort();
    assert.deepEqual(hosts, ['sms-api-1', 'sms-api-2', 'voice-gateway-1'], 'one clone per host');
  });
});
