/**
 * Decisions through the whole local cluster (kinesis-local, redis-server, the fleet simulator and
 * three node processes voting over gRPC): decision latency (put → durable decision) at steady rates,
 * decisions/s at saturation, and, measured in the same run as references, a bare gRPC round trip to
 * a node process and a bare GetRecords loop draining the same stream. Every event carries the
 * incident key of a page created in the PagerDuty simulator first (as its sensor would), so the
 * first response to each page (the acknowledgement of an `act`, the escalation of an `escalate`)
 * is measured from the event's time under the same load. Run: npm run bench:cluster
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { PeerClient } from '../../src/cluster/peer-client.js';
import { RedisKeys } from '../../src/common/keys.js';
import { table } from '../../src/cli/format.js';
import { LocalStack } from '../../src/sim/local-stack.js';

const RATES = [
  { perSecond: 100, seconds: 10 },
  { perSecond: 300, seconds: 10 },
];
const BACKLOG = 4000;

let seq = 0;
let pages: LocalStack['pagerduty'] | undefined;

function event(): { id: string; data: Buffer; key: string } {
  seq++;
  const host = `sms-api-${(seq % 6) + 1}`;
  const id = `bench-${process.pid}-${seq}`;
  const body = {
    id,
    type: 'NagiosHostAlarm',
    source: 'bench',
    time: new Date().toISOString(),
    environment: 'prod',
    service: 'sms-api',
    host,
    incident_key: id,
    // A field of its own, so that no event folds into another as a duplicate: each one is voted on.
    data: { host_state: 'DOWN', host_state_type: 'HARD', check: `bench-${seq}` },
  };
  // The sensor pages PagerDuty before it sends the event.
  pages?.createIncident({ incidentKey: id, service: 'sms-api' });
  return { id, data: Buffer.from(JSON.stringify(body)), key: `${host}-${seq % 64}` };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function putBatch(
  stack: LocalStack,
  events: { id: string; data: Buffer; key: string }[],
  putAt: Map<string, number>,
): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const chunk = events.slice(i, i + 500);
    const now = Date.now();
    for (const e of chunk) putAt.set(e.id, now);
    const out = await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: stack.region.stream,
        Records: chunk.map((e) => ({ Data: e.data, PartitionKey: e.key })),
      }),
    );
    if ((out.FailedRecordCount ?? 0) > 0) throw new Error(`${out.FailedRecordCount} records failed to put`);
  }
}

async function waitDecided(
  redis: Redis,
  keys: RedisKeys,
  ids: string[],
  timeoutMs: number,
): Promise<Map<string, number>> {
  const decidedAt = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  let pending = ids;
  while (pending.length > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.length} events undecided after ${timeoutMs} ms`);
    const values = await redis.mget(...pending.map((id) => keys.decision(id)));
    const next: string[] = [];
    values.forEach((v, i) => {
      const id = pending[i] ?? '';
      if (v === null) next.push(id);
      else decidedAt.set(id, Date.parse((JSON.parse(v) as { decided_at: string }).decided_at));
    });
    pending = next;
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 50));
  }
  return decidedAt;
}

interface FirstResponse {
  readonly action: string;
  readonly ok: boolean;
  readonly latency_ms: number;
}

/** The first response of each event's page (waits for the escalations, made after the decision). */
async function firstResponses(
  redis: Redis,
  keys: RedisKeys,
  ids: string[],
  timeoutMs: number,
): Promise<FirstResponse[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const values = await redis.mget(...ids.map((id) => keys.decision(id)));
    const pages = values.map((v) =>
      v === null ? undefined : (JSON.parse(v) as { page?: FirstResponse }).page,
    );
    const missing = pages.filter((p) => p === undefined).length;
    if (missing === 0 || Date.now() > deadline) {
      if (missing > 0)
        process.stderr.write(`${missing} events have no page response after ${timeoutMs} ms\n`);
      return pages.filter((p): p is FirstResponse => p !== undefined);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function responseCells(responses: readonly FirstResponse[], action: string): string {
  const mine = responses.filter((r) => r.action === action);
  const ok = mine.filter((r) => r.ok).map((r) => r.latency_ms);
  if (mine.length === 0) return '-';
  return `${pct(ok, 50).toFixed(0)} / ${pct(ok, 99).toFixed(0)} (${ok.length}${ok.length < mine.length ? `, ${mine.length - ok.length} failed` : ''})`;
}

async function grpcRoundTrip(stack: LocalStack): Promise<{ p50: number; p99: number }> {
  const node = stack.region.nodes[0];
  if (node === undefined) throw new Error('no node');
  // As another node of the region: the peer protocol serves only them, over mutual TLS.
  const as = stack.region.nodes[1]?.id ?? node.id;
  const client = new PeerClient(node.id, node.grpc, await stack.identityOf(as));
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await client.ping(as, 2000);
    times.push(performance.now() - t);
  }
  client.close();
  return { p50: pct(times.slice(200), 50), p99: pct(times.slice(200), 99) };
}

async function bareDrain(stack: LocalStack): Promise<{ records: number; perSecond: number }> {
  const { Shards = [] } = await stack.kinesis.send(
    new ListShardsCommand({ StreamName: stack.region.stream }),
  );
  const started = performance.now();
  const counts = await Promise.all(
    Shards.map(async (shard) => {
      let iterator = (
        await stack.kinesis.send(
          new GetShardIteratorCommand({
            StreamName: stack.region.stream,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      let n = 0;
      while (iterator !== undefined) {
        const out = await stack.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 500 }));
        n += out.Records?.length ?? 0;
        if ((out.Records?.length ?? 0) === 0 && (out.MillisBehindLatest ?? 0) === 0) break;
        iterator = out.NextShardIterator;
      }
      return n;
    }),
  );
  const records = counts.reduce((a, b) => a + b, 0);
  return { records, perSecond: records / ((performance.now() - started) / 1000) };
}

async function main(): Promise<void> {
  process.env['LAZARUS_LOG_LEVEL'] ??= 'warn';
  process.stderr.write('starting the local region (3 nodes, 4 shards)...\n');
  // Rate limits out of the way: this measures the decision path, not the storm brake.
  const stack = await LocalStack.start({
    shards: 4,
    region: { kinesis: { poll_interval: '50ms' } },
    // The decisions' own cost, as before: PagerDuty's 960 a minute would leave most pages of a
    // 300/s run to its timer (the shared budget's benchmark is about that).
    pagerduty: { requestsPerMinute: 0 },
    services:
      'services:\n  sms-api:\n    profile: stateless\n    parameters: { min_active_hosts: 0, rate_limit_threshold: 1000000 }\n',
  });
  pages = stack.pagerduty;
  const redis = new Redis(stack.redisUrl);
  const keys = new RedisKeys(stack.region.keyPrefix);
  // Every event is a HARD host down for a host that is really down: each one passes the gates and
  // is voted on by all three nodes, each probing the service's six hosts from its own source
  // address; the first per host takes the host's lock (and starts a workflow), the rest find the
  // lock held.
  for (let h = 1; h <= 6; h++) stack.fleet.inject({ kind: 'host_down', host: `sms-api-${h}` });
  const rows = [
    [
      'load',
      'events',
      'decisions/s',
      'latency p50 ms',
      'latency p99 ms',
      'ack p50 / p99 ms (n)',
      'escalate p50 / p99 ms (n)',
    ],
  ];
  try {
    for (const { perSecond, seconds } of RATES) {
      process.stderr.write(`steady ${perSecond}/s for ${seconds} s...\n`);
      const putAt = new Map<string, number>();
      const ids: string[] = [];
      const started = Date.now();
      for (let tick = 0; tick < seconds * 10; tick++) {
        const batch = Array.from({ length: perSecond / 10 }, event);
        ids.push(...batch.map((e) => e.id));
        await putBatch(stack, batch, putAt);
        const next = started + (tick + 1) * 100;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      const decided = await waitDecided(redis, keys, ids, 120_000);
      const latencies = ids.map((id) => (decided.get(id) ?? NaN) - (putAt.get(id) ?? NaN));
      const span = (Math.max(...decided.values()) - started) / 1000;
      const responses = await firstResponses(redis, keys, ids, 120_000);
      rows.push([
        `steady ${perSecond}/s`,
        String(ids.length),
        (ids.length / span).toFixed(0),
        pct(latencies, 50).toFixed(0),
        pct(latencies, 99).toFixed(0),
        responseCells(responses, 'acknowledge'),
        responseCells(responses, 'escalate'),
      ]);
    }

    process.stderr.write(`saturation: a backlog of ${BACKLOG} events...\n`);
    const putAt = new Map<string, number>();
    const backlog = Array.from({ length: BACKLOG }, event);
    const started = Date.now();
    await putBatch(stack, backlog, putAt);
    const decided = await waitDecided(
      redis,
      keys,
      backlog.map((e) => e.id),
      300_000,
    );
    const span = (Math.max(...decided.values()) - started) / 1000;
    const latencies = backlog.map((e) => (decided.get(e.id) ?? NaN) - (putAt.get(e.id) ?? NaN));
    const responses = await firstResponses(
      redis,
      keys,
      backlog.map((e) => e.id),
      300_000,
    );
    rows.push([
      `backlog ${BACKLOG}`,
      String(BACKLOG),
      (BACKLOG / span).toFixed(0),
      pct(latencies, 50).toFixed(0),
      pct(latencies, 99).toFixed(0),
      responseCells(responses, 'acknowledge'),
      responseCells(responses, 'escalate'),
    ]);
    const saturation = BACKLOG / span;

    process.stderr.write('references: gRPC round trip, bare GetRecords drain...\n');
    const rtt = await grpcRoundTrip(stack);
    const drain = await bareDrain(stack);
    process.stdout.write('\n' + table(rows) + '\n\n');
    process.stdout.write(
      table([
        ['reference (same run)', 'value'],
        [
          'gRPC Ping round trip to a node process, sequential',
          `p50 ${rtt.p50.toFixed(2)} ms, p99 ${rtt.p99.toFixed(2)} ms`,
        ],
        [
          `bare GetRecords drain of the same stream (${drain.records} records, 4 shards)`,
          `${drain.perSecond.toFixed(0)} records/s`,
        ],
        [
          'decisions/s at saturation / bare drain',
          `${((100 * saturation) / drain.perSecond).toFixed(0)}% (aim: >= 80%)`,
        ],
      ]) + '\n',
    );
  } finally {
    redis.disconnect();
    await stack.stop();
    await stack.remove();
  }
}

await main();
