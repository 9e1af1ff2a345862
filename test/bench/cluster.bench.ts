/**
 * Decisions through the whole local cluster (kinesis-local, redis-server, the fleet and PagerDuty
 * simulators and three node processes voting over gRPC), on two paths:
 *
 * - **voted**: a HARD host down for a host that is really down, in a service whose MinActiveHosts
 *   cannot be met: every event is claimed, passes the gates, is voted on by all three nodes (each
 *   probing the service's six hosts from its own source address), and escalates its page. No run
 *   starts, so no host is ever `recently_remediated` and every event takes the same path.
 * - **storm**: the regional circuit breaker open (more services failing than its threshold): every
 *   event escalates `breaker_open` before any vote.
 *
 * It prints decision latency (put → durable decision) at steady rates, decisions/s on a backlog,
 * the CPU milliseconds per decided event and the peak memory of every process (from
 * `/proc/<pid>/stat` and `/proc/<pid>/status`; this benchmark's own process holds the simulators
 * and the load generator), the network exchanges per decided event (Redis round trips counted
 * with MONITOR in a pass of their own, gRPC Evaluate calls from the nodes' vote metrics, health
 * probes and PagerDuty calls from the simulators), and, in the same run as references, a bare gRPC
 * round trip to a node process and a bare GetRecords drain of the same stream.
 *
 * Run: npm run bench:cluster. `--smoke`: a small size for CI (seconds; the figures mean little).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
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
import { CircuitBreaker } from '../../src/safety/circuit-breaker.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { scriptSource } from '../../src/common/lua.js';
import { packageRoot } from '../../src/common/package-root.js';
import { summarize } from './cpu-profile.js';

const SMOKE = process.argv.includes('--smoke');
/** `--profile DIR`: the nodes run with `--cpu-prof` into DIR; where their CPU went is printed. */
const argument = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const PROFILE = argument('--profile');
/** `--only voted` or `--only storm`: one path (with `--profile`, a profile of that path alone). */
const only = argument('--only');
if (only !== undefined && only !== 'voted' && only !== 'storm')
  throw new Error(`--only ${only}: voted or storm`);
const ONLY = only;
const SIZE = SMOKE
  ? {
      rates: [{ perSecond: 20, seconds: 2 }],
      backlog: 200,
      counted: 40,
      rtt: 200,
      idleSeconds: 2,
      responsesMs: 20_000,
    }
  : {
      // 100/s three times: its latency figure is the median of three (the machine's noise is as
      // large as the figure).
      rates: [
        { perSecond: 100, seconds: 10 },
        { perSecond: 100, seconds: 10 },
        { perSecond: 100, seconds: 10 },
        { perSecond: 300, seconds: 10 },
      ],
      backlog: 4000,
      counted: 400,
      rtt: 2000,
      idleSeconds: 10,
      responsesMs: 120_000,
    };
const RATES = SIZE.rates;
const BACKLOG = SIZE.backlog;

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

const pct = (xs: readonly number[], p: number): number => {
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
): Promise<{ decidedAt: Map<string, number>; voteMs: number[] }> {
  const decidedAt = new Map<string, number>();
  const voteMs: number[] = [];
  const deadline = Date.now() + timeoutMs;
  let pending = ids;
  while (pending.length > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.length} events undecided after ${timeoutMs} ms`);
    const values = await redis.mget(...pending.map((id) => keys.decision(id)));
    const next: string[] = [];
    values.forEach((v, i) => {
      const id = pending[i] ?? '';
      if (v === null) next.push(id);
      else {
        const d = JSON.parse(v) as { decided_at: string; vote_ms?: number };
        decidedAt.set(id, Date.parse(d.decided_at));
        if (d.vote_ms !== undefined) voteMs.push(d.vote_ms);
      }
    });
    pending = next;
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 50));
  }
  return { decidedAt, voteMs };
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

async function grpcRoundTrip(stack: LocalStack, n: number): Promise<{ p50: number; p99: number }> {
  const node = stack.region.nodes[0];
  if (node === undefined) throw new Error('no node');
  // As another node of the region: the peer protocol serves only them, over mutual TLS.
  const as = stack.region.nodes[1]?.id ?? node.id;
  const client = new PeerClient(node.id, node.grpc, await stack.identityOf(as));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await client.ping(as, 2000);
    times.push(performance.now() - t);
  }
  client.close();
  return { p50: pct(times.slice(n / 10), 50), p99: pct(times.slice(n / 10), 99) };
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

const CLOCK_TICKS_PER_SECOND =
  Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Usage {
  readonly cpuMs: number;
  readonly rssKb: number;
  readonly peakKb: number;
}

/** CPU time (user + system) and resident memory of a process, from /proc. */
async function usageOf(pid: number): Promise<Usage> {
  if (pid === process.pid) {
    const cpu = process.cpuUsage();
    const rss = process.memoryUsage().rss / 1024;
    const status = await readFile('/proc/self/status', 'utf8');
    return { cpuMs: (cpu.user + cpu.system) / 1000, rssKb: rss, peakKb: kb(status, 'VmHWM') };
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return {
    cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND,
    rssKb: kb(status, 'VmRSS'),
    peakKb: kb(status, 'VmHWM'),
  };
}

function kb(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
}

type Processes = { readonly name: string; readonly pid: number }[];

async function usages(processes: Processes): Promise<Map<string, Usage>> {
  return new Map(await Promise.all(processes.map(async (p) => [p.name, await usageOf(p.pid)] as const)));
}

/** Counts of the exchanges a pass made, from the simulators. */
interface Exchanges {
  readonly probes: number;
  readonly pagerduty: number;
}

function exchanges(stack: LocalStack): Exchanges {
  return { probes: stack.fleet.healthRequestsTotal, pagerduty: stack.pagerduty.callsTotal };
}

/** The peer calls the nodes answered so far, from their /metrics: Evaluate, EvaluateBatch, events in batches. */
async function peerCalls(
  stack: LocalStack,
): Promise<{ evaluate: number; batches: number; batchEvents: number }> {
  const total = { evaluate: 0, batches: 0, batchEvents: 0 };
  for (const node of stack.region.nodes) {
    const text = await (await fetch(`${stack.apiUrl(node.id)}/metrics`)).text();
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
    total.evaluate += value(/^lazarus_peer_requests_total\{method="Evaluate"\} (\S+)$/m);
    total.batches += value(/^lazarus_peer_requests_total\{method="EvaluateBatch"\} (\S+)$/m);
    total.batchEvents += value(/^lazarus_peer_batch_events_total (\S+)$/m);
  }
  return total;
}

/** Once no PagerDuty request and no probe has come for a second (the background work is done). */
async function settled(stack: LocalStack): Promise<void> {
  let last = exchanges(stack);
  let quietSince = Date.now();
  const deadline = Date.now() + 120_000;
  while (Date.now() - quietSince < 1000 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = exchanges(stack);
    if (now.pagerduty !== last.pagerduty || now.probes !== last.probes) {
      last = now;
      quietSince = Date.now();
    }
  }
}

/**
 * The Evaluate calls the coordinators made for `ids`: one per vote (or failure to vote) of another
 * node in each decision record, late votes included.
 */
async function evaluateCalls(redis: Redis, keys: RedisKeys, ids: readonly string[]): Promise<number> {
  const values = await redis.mget(...ids.map((id) => keys.decision(id)));
  let calls = 0;
  for (const v of values) {
    if (v === null) continue;
    const d = JSON.parse(v) as {
      coordinator: { node: string };
      votes: { node: string }[];
      late_votes?: { node: string }[];
    };
    calls += [...d.votes, ...(d.late_votes ?? [])].filter((x) => x.node !== d.coordinator.node).length;
  }
  return calls;
}

/**
 * Puts `events` at `perSecond`, waits for every decision and for its page response, and returns the
 * latencies (put → decision) and the span from the first put to the last decision.
 */
async function pass(
  stack: LocalStack,
  redis: Redis,
  keys: RedisKeys,
  events: { id: string; data: Buffer; key: string }[],
  perSecond: number | 'backlog',
  seen?: ReadonlyMap<string, number>,
): Promise<{
  latencies: number[];
  span: number;
  responses: FirstResponse[];
  putToGet: number[];
  voteMs: number[];
}> {
  const putAt = new Map<string, number>();
  const started = Date.now();
  if (perSecond === 'backlog') await putBatch(stack, events, putAt);
  else {
    const perTick = Math.max(1, Math.round(perSecond / 10));
    for (let tick = 0; tick * perTick < events.length; tick++) {
      await putBatch(stack, events.slice(tick * perTick, (tick + 1) * perTick), putAt);
      const next = started + (tick + 1) * 100;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  }
  const ids = events.map((e) => e.id);
  const { decidedAt: decided, voteMs } = await waitDecided(redis, keys, ids, 300_000);
  const latencies = ids.map((id) => (decided.get(id) ?? NaN) - (putAt.get(id) ?? NaN));
  const span = (Math.max(...decided.values()) - started) / 1000;
  // A page's response comes within PagerDuty's budget (50 s) of its event, or never: what is missing
  // then is reported, not waited for.
  const responses = await firstResponses(redis, keys, ids, SIZE.responsesMs);
  const putToGet =
    seen === undefined
      ? []
      : ids.map((id) => (seen.get(id) ?? NaN) - (putAt.get(id) ?? NaN)).filter(Number.isFinite);
  return { latencies, span, responses, putToGet, voteMs };
}

/**
 * A bare reader of every shard from its tip (LATEST), polling as often as the nodes do: when each
 * record put from now on is first seen, by id. `stop` ends it and resolves once it has.
 */
async function bareReader(
  stack: LocalStack,
): Promise<{ seen: Map<string, number>; stop: () => Promise<void> }> {
  const { Shards = [] } = await stack.kinesis.send(
    new ListShardsCommand({ StreamName: stack.region.stream }),
  );
  const seen = new Map<string, number>();
  let stopped = false;
  const iterators = await Promise.all(
    Shards.map(
      async (shard) =>
        (
          await stack.kinesis.send(
            new GetShardIteratorCommand({
              StreamName: stack.region.stream,
              ShardId: shard.ShardId,
              ShardIteratorType: 'LATEST',
            }),
          )
        ).ShardIterator,
    ),
  );
  const loops = iterators.map(async (first) => {
    let iterator = first;
    while (!stopped && iterator !== undefined) {
      let got = 0;
      try {
        const out = await stack.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 500 }));
        const at = Date.now();
        got = out.Records?.length ?? 0;
        for (const record of out.Records ?? []) {
          const id = (
            JSON.parse(Buffer.from(record.Data ?? new Uint8Array()).toString('utf8')) as { id?: string }
          ).id;
          if (id !== undefined && !seen.has(id)) seen.set(id, at);
        }
        iterator = out.NextShardIterator;
      } catch (error) {
        // A reference, not the thing measured: a failed read is said and tried again.
        process.stderr.write(`bare reader: ${error instanceof Error ? error.message : String(error)}\n`);
      }
      if (got === 0) await new Promise((r) => setTimeout(r, 50));
    }
  });
  return {
    seen,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Each Lua script of the package by its SHA1 (what EVALSHA names it by), for the MONITOR feed. */
function scriptNames(): Map<string, string> {
  const names = new Map<string, string>();
  const src = `${packageRoot()}/src`;
  for (const module of readdirSync(src)) {
    let files: string[];
    try {
      files = readdirSync(`${src}/${module}/lua`);
    } catch {
      continue;
    }
    for (const name of files.filter((f) => f.endsWith('.lua')).map((f) => f.replace(/\.lua$/, '')))
      // As sent: with what it includes (scriptSource).
      names.set(createHash('sha1').update(scriptSource({ module, name })).digest('hex'), name);
  }
  return names;
}

/**
 * Redis commands sent by the nodes during `work` (not by Lua scripts, not by this process), from
 * MONITOR on a plain socket: each command is one `+<time> [<db> <client>|lua] "<name>" ...` line.
 */
async function redisRoundTrips(
  redisUrl: string,
  own: readonly Redis[],
  work: () => Promise<void>,
): Promise<{ trips: number; commands: number; byCommand: Map<string, number> }> {
  const { hostname, port } = new URL(redisUrl);
  const socket = createConnection({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const mine = new Set(
    own.map((r) => {
      const client = (r as unknown as { stream: Socket }).stream;
      return `${client.localAddress}:${client.localPort}`;
    }),
  );
  const byCommand = new Map<string, number>();
  const scripts = scriptNames();
  const inMulti = new Set<string>();
  let trips = 0;
  let commands = 0;
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?/.exec(line);
      const client = m?.[1] ?? 'lua';
      if (m === null || client === 'lua' || mine.has(client)) continue;
      commands++;
      const command = (m[2] ?? '?').toUpperCase();
      // A script by its name: `EVALSHA decide`.
      const named = command === 'EVALSHA' ? `EVALSHA ${scripts.get(m[3] ?? '') ?? '?'}` : command;
      byCommand.set(named, (byCommand.get(named) ?? 0) + 1);
      // A MULTI … EXEC block is written at once and answered at once: one round trip.
      if (command === 'MULTI') {
        inMulti.add(client);
        trips++;
      } else if (command === 'EXEC') inMulti.delete(client);
      else if (!inMulti.has(client)) trips++;
    }
  });
  socket.write('MONITOR\r\n');
  try {
    await work();
    // MONITOR's feed runs behind the commands themselves by a little.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    socket.destroy();
  }
  return { trips, commands, byCommand };
}

const mib = (kbs: number): string => (kbs / 1024).toFixed(0);

async function main(): Promise<void> {
  process.env['LAZARUS_LOG_LEVEL'] ??= 'warn';
  process.stderr.write(`starting the local region (3 nodes, 4 shards)${SMOKE ? ', smoke size' : ''}...\n`);
  // Rate limits out of the way: this measures the decision path, not the storm brake.
  const stack = await LocalStack.start({
    shards: 4,
    region: { kinesis: { poll_interval: '50ms' } },
    // The decisions' own cost, as before: PagerDuty's 960 a minute would leave most pages of a
    // 300/s run to its timer (the shared budget's benchmark is about that).
    pagerduty: { requestsPerMinute: 0 },
    // MinActiveHosts of 100 cannot be met by six hosts: every vote fails it, every event escalates
    // after its votes (the voted path, the same for every event).
    services:
      'services:\n  sms-api:\n    profile: stateless\n    parameters: { min_active_hosts: 100, rate_limit_threshold: 1000000 }\n',
    ...(PROFILE === undefined ? {} : { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] }),
  });
  pages = stack.pagerduty;
  const redis = new Redis(stack.redisUrl);
  const keys = new RedisKeys(stack.region.keyPrefix);
  const processes: Processes = [...stack.processes(), { name: 'bench (simulators, load)', pid: process.pid }];
  for (let h = 1; h <= 6; h++) stack.fleet.inject({ kind: 'host_down', host: `sms-api-${h}` });
  const rows = [
    [
      'path, load',
      'events',
      'decisions/s',
      'latency p50 ms',
      'latency p99 ms',
      'of which votes p50 / p99 ms',
      'put→get (bare reader) p50 / p99 ms',
      'escalate p50 / p99 ms (n)',
    ],
  ];
  const pair = (xs: readonly number[]): string =>
    xs.length === 0 ? '-' : `${pct(xs, 50).toFixed(0)} / ${pct(xs, 99).toFixed(0)}`;
  const row = (label: string, n: number, r: Awaited<ReturnType<typeof pass>>): string[] => [
    label,
    String(n),
    (n / r.span).toFixed(0),
    pct(r.latencies, 50).toFixed(0),
    pct(r.latencies, 99).toFixed(0),
    pair(r.voteMs),
    pair(r.putToGet),
    responseCells(r.responses, 'escalate'),
  ];
  const cpu: Record<'voted' | 'storm', Map<string, number>> = { voted: new Map(), storm: new Map() };
  type Counts = {
    redis: number;
    commands: number;
    evaluate: number;
    votes: number;
    perBatch: number;
    byCommand: Map<string, number>;
    byRequest: Map<string, number>;
  } & Exchanges;
  const none = (): Counts => ({
    redis: 0,
    commands: 0,
    byCommand: new Map(),
    byRequest: new Map(),
    evaluate: 0,
    votes: 0,
    perBatch: 0,
    probes: 0,
    pagerduty: 0,
  });
  const counts: Record<'voted' | 'storm', Counts> = { voted: none(), storm: none() };
  const backlogCounts: Record<'voted' | 'storm', Counts> = { voted: none(), storm: none() };
  const rate: Record<'voted' | 'storm', number> = { voted: 0, storm: 0 };
  const steady: { perSecond: number; decisionP99: number; putToGetP99: number }[] = [];

  const onPath = async (path: 'voted' | 'storm'): Promise<void> => {
    if (path === 'voted' && !SMOKE) {
      // Not measured: the first run after the idle pass is the slowest (JIT, connections, pools).
      process.stderr.write('voted, warming up at 100/s for 3 s...\n');
      await pass(stack, redis, keys, Array.from({ length: 300 }, event), 100);
    }
    if (path === 'voted')
      for (const { perSecond, seconds } of RATES) {
        process.stderr.write(`voted, steady ${perSecond}/s for ${seconds} s...\n`);
        const events = Array.from({ length: perSecond * seconds }, event);
        // A bare reader of the same stream beside the nodes: how soon a record can be read at all.
        const reader = await bareReader(stack);
        const r = await pass(stack, redis, keys, events, perSecond, reader.seen);
        await reader.stop();
        rows.push(row(`voted, steady ${perSecond}/s`, events.length, r));
        steady.push({ perSecond, decisionP99: pct(r.latencies, 99), putToGetP99: pct(r.putToGet, 99) });
      }
    process.stderr.write(`${path}, a backlog of ${BACKLOG} events...\n`);
    const before = await usages(processes);
    const t0 = performance.now();
    const events = Array.from({ length: BACKLOG }, event);
    const r = await pass(stack, redis, keys, events, 'backlog');
    const after = await usages(processes);
    const seconds = (performance.now() - t0) / 1000;
    // What the event caused (its decision, its page): the process's CPU over the pass, less what it
    // spends idle in as long (the readers' polling, leases, heartbeats).
    for (const [name, u] of after)
      cpu[path].set(
        name,
        (u.cpuMs - (before.get(name)?.cpuMs ?? 0) - (idle.get(name) ?? 0) * seconds) / BACKLOG,
      );
    rate[path] = BACKLOG / r.span;
    rows.push(row(`${path}, backlog ${BACKLOG}`, BACKLOG, r));

    counts[path] = await count(path, 100);
    backlogCounts[path] = await count(path, 'backlog');
  };
  /** The exchanges per event of SIZE.counted events of the path, put at `load` (a rate, or all at once). */
  const count = async (path: 'voted' | 'storm', load: number | 'backlog'): Promise<Counts> => {
    process.stderr.write(
      `${path}: counting the exchanges of ${SIZE.counted} events${load === 'backlog' ? ' put at once' : ` at ${load}/s`} (Redis MONITOR on)...\n`,
    );
    // The pages of the backlog are still being noted: counted from when they are done, until the
    // counted events' own are.
    await settled(stack);
    const x0 = exchanges(stack);
    const g0 = await peerCalls(stack);
    const counted = Array.from({ length: SIZE.counted }, event);
    const trips = await redisRoundTrips(stack.redisUrl, [redis], async () => {
      await pass(stack, redis, keys, counted, load);
      await settled(stack);
    });
    const x1 = exchanges(stack);
    const g1 = await peerCalls(stack);
    // The PagerDuty requests of the pass by method and path (ids left out).
    const byRequest = new Map<string, number>();
    for (const c of stack.pagerduty.calls().slice(-(x1.pagerduty - x0.pagerduty))) {
      const shape = `${c.method} ${c.path.replace(/^\/incidents\/[^/]+/, '/incidents/{id}')}`;
      byRequest.set(shape, (byRequest.get(shape) ?? 0) + 1 / SIZE.counted);
    }
    const evaluate = await evaluateCalls(
      redis,
      keys,
      counted.map((e) => e.id),
    );
    return {
      redis: trips.trips / SIZE.counted,
      commands: trips.commands / SIZE.counted,
      byCommand: new Map([...trips.byCommand].map(([c, n]) => [c, n / SIZE.counted])),
      byRequest,
      evaluate: (g1.evaluate - g0.evaluate + g1.batches - g0.batches) / SIZE.counted,
      votes: evaluate / SIZE.counted,
      perBatch: g1.batches === g0.batches ? 0 : (g1.batchEvents - g0.batchEvents) / (g1.batches - g0.batches),
      probes: (x1.probes - x0.probes) / SIZE.counted,
      pagerduty: (x1.pagerduty - x0.pagerduty) / SIZE.counted,
    };
  };

  // The cost of an idle region, per process (CPU ms per second), to take out of each pass.
  const idle = new Map<string, number>();
  try {
    await new Promise((r) => setTimeout(r, 1000));
    process.stderr.write(`idle for ${SIZE.idleSeconds} s...\n`);
    const i0 = await usages(processes);
    await new Promise((r) => setTimeout(r, SIZE.idleSeconds * 1000));
    const i1 = await usages(processes);
    for (const [name, u] of i1) idle.set(name, (u.cpuMs - (i0.get(name)?.cpuMs ?? 0)) / SIZE.idleSeconds);
    if (ONLY !== 'storm') await onPath('voted');
    // The breaker opens when more services than its threshold (10) have failed in its window.
    const breaker = new CircuitBreaker(redis, keys);
    for (let i = 0; i <= 10; i++) await breaker.hit(`storm-${i}`, Date.now(), 600_000, 10);
    if (ONLY !== 'voted') await onPath('storm');

    process.stderr.write('references: gRPC round trip, bare GetRecords drain...\n');
    const rtt = await grpcRoundTrip(stack, SIZE.rtt);
    const drain = await bareDrain(stack);
    const peak = await usages(processes);
    process.stdout.write('\n' + table(rows) + '\n\n');
    const procRows = [
      [
        'process',
        'idle CPU ms/s',
        'CPU ms / voted event',
        'CPU ms / storm event',
        'RSS MiB now',
        'RSS MiB peak',
      ],
    ];
    const sum = (path: 'voted' | 'storm', only?: (name: string) => boolean): number =>
      [...cpu[path]].filter(([n]) => only?.(n) ?? true).reduce((a, [, v]) => a + v, 0);
    for (const p of processes)
      procRows.push([
        p.name,
        (idle.get(p.name) ?? NaN).toFixed(1),
        (cpu.voted.get(p.name) ?? NaN).toFixed(2),
        (cpu.storm.get(p.name) ?? NaN).toFixed(2),
        mib(peak.get(p.name)?.rssKb ?? NaN),
        mib(peak.get(p.name)?.peakKb ?? NaN),
      ]);
    const isNode = (n: string): boolean => n.startsWith('node ');
    procRows.push([
      'three nodes, summed',
      [...idle]
        .filter(([n]) => isNode(n))
        .reduce((a, [, v]) => a + v, 0)
        .toFixed(1),
      sum('voted', isNode).toFixed(2),
      sum('storm', isNode).toFixed(2),
      '',
      '',
    ]);
    procRows.push([
      'every process, summed',
      [...idle].reduce((a, [, v]) => a + v, 0).toFixed(1),
      sum('voted').toFixed(2),
      sum('storm').toFixed(2),
      '',
      '',
    ]);
    process.stdout.write(
      `CPU per decided event on a backlog of ${BACKLOG}, its page included, idle cost taken out (aim, voted, three nodes: <= 2.5 ms)\n`,
    );
    process.stdout.write(table(procRows) + '\n\n');
    const xRows = [
      [
        'path',
        'Redis round trips',
        'gRPC calls (peer votes asked, events a batch)',
        'health probes',
        'PagerDuty calls',
        'total (aim <= 8)',
        'Redis commands sent (MULTI … EXEC: one round trip)',
      ],
    ];
    for (const [path, c] of [
      ['voted', counts.voted],
      ['storm', counts.storm],
      [`voted, ${SIZE.counted} at once`, backlogCounts.voted],
      [`storm, ${SIZE.counted} at once`, backlogCounts.storm],
    ] as const) {
      const top = [...c.byCommand]
        .sort((a, b) => b[1] - a[1])
        .filter(([, v]) => v >= 0.05)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ');
      xRows.push([
        path,
        c.redis.toFixed(1),
        `${c.evaluate.toFixed(2)} (${c.votes.toFixed(1)} votes${c.perBatch > 0 ? `, ${c.perBatch.toFixed(1)} a batch` : ''})`,
        c.probes.toFixed(1),
        c.pagerduty.toFixed(1),
        (c.redis + c.evaluate + c.probes + c.pagerduty).toFixed(1),
        `${c.commands.toFixed(1)}: ${top}`,
      ]);
    }
    process.stdout.write(
      `network exchanges per decided event (${SIZE.counted} events per path at 100/s, and ${SIZE.counted} put at once: a batch then holds more events)\n`,
    );
    process.stdout.write(table(xRows) + '\n');
    for (const [path, c] of [
      ['voted', counts.voted],
      ['storm', counts.storm],
      ['voted, at once', backlogCounts.voted],
      ['storm, at once', backlogCounts.storm],
    ] as const)
      process.stdout.write(
        `  ${path}, PagerDuty requests: ${
          [...c.byRequest]
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${v.toFixed(2)}`)
            .join(', ') || 'none'
        }\n`,
      );
    process.stdout.write('\n');
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
        ...[...new Set(steady.map((x) => x.perSecond))].map((perSecond) => {
          const runs = steady.filter((x) => x.perSecond === perSecond);
          const gaps = runs.map((x) => x.decisionP99 - x.putToGetP99);
          const each = runs
            .map((x) => `${x.decisionP99.toFixed(0)} - ${x.putToGetP99.toFixed(0)}`)
            .join(', ');
          return [
            `decision latency p99 - put→get p99 of a bare reader, voted, ${perSecond}/s${runs.length > 1 ? `, median of ${runs.length}` : ''}`,
            `${pct(gaps, 50).toFixed(0)} ms (${each})${perSecond === 100 ? ' (aim: <= 50 ms)' : ''}`,
          ];
        }),
        [
          'voted decisions/s on the backlog / bare drain',
          `${((100 * rate.voted) / drain.perSecond).toFixed(0)}%`,
        ],
        [
          'storm decisions/s on the backlog / bare drain',
          `${((100 * rate.storm) / drain.perSecond).toFixed(0)}% (aim: >= 50%)`,
        ],
      ]) + '\n',
    );
  } finally {
    redis.disconnect();
    await stack.stop();
    await stack.remove();
  }
  if (PROFILE !== undefined) await printProfiles(PROFILE, processes);
}

/** Where the three nodes' CPU went (their `--cpu-prof` files, written as they stopped), summed. */
async function printProfiles(dir: string, processes: Processes): Promise<void> {
  const pids = new Set(processes.filter((p) => p.name.startsWith('node ')).map((p) => String(p.pid)));
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && pids.has(f.split('.')[3] ?? ''));
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const f of files) {
    const s = await summarize(`${dir}/${f}`);
    busy += s.busyMs;
    for (const [k, v] of s.owners) owners.set(k, (owners.get(k) ?? 0) + v);
    for (const [k, v] of s.functions) functions.set(k, (functions.get(k) ?? 0) + v);
  }
  const top = (m: Map<string, number>, n: number): string[][] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => [k, (v / 1000).toFixed(2), `${((100 * v) / busy).toFixed(1)}%`]);
  process.stdout.write(
    `\nthe three nodes' CPU profiles (${files.length} files, ${(busy / 1000).toFixed(1)} s busy, self time)\n`,
  );
  process.stdout.write(table([['owner', 's', 'share'], ...top(owners, 25)]) + '\n\n');
  process.stdout.write(table([['function', 's', 'share'], ...top(functions, 40)]) + '\n');
}

await main();
