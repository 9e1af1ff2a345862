/**
 * A paging storm against the region's PagerDuty request budget: 1,000 events in 10 s through the
 * whole local cluster (kinesis-local, redis-server, three node processes voting over gRPC), each
 * with its own page created in the PagerDuty simulator first, as its sensor would. 5 % are
 * actionable (a host really down: the controller acknowledges the page and replaces the host), the
 * rest escalate (a healthy host reported down: the votes fail). The simulator allows the
 * controller's user PagerDuty's 960 requests a minute and answers 429 beyond.
 *
 * Prints: requests a minute at peak (any 60 s window, counted by the simulator; never more than the
 * budget), 429s received, the acknowledgement latency of the actionable events from the event's
 * time, and how many escalations the controller sent and how many it left to PagerDuty's timer.
 *
 * Run: npm run bench:page. `--smoke`: a small size for CI (60 events in 2 s, a 120/min budget and an
 * 8 s race), which checks that the benchmark runs and that the budget held.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { table } from '../../src/cli/format.js';
import { RedisKeys } from '../../src/common/keys.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import type { PagerDutyCall } from '../../src/sim/pagerduty.js';
import type { RunState } from '../../src/workflow/types.js';

const SMOKE = process.argv.includes('--smoke');
const SIZE = SMOKE
  ? { events: 60, seconds: 2, perMinute: 120, race: '8s', raceMs: 8_000 }
  : { events: 1_000, seconds: 10, perMinute: 960, race: '50s', raceMs: 50_000 };
const ACTIONABLE_SHARE = 0.05;
const SERVICES = ['svc-a', 'svc-b', 'svc-c', 'svc-d', 'svc-e'];
const HOSTS_PER_SERVICE = 12;

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

interface Planned {
  readonly id: string;
  readonly actionable: boolean;
  readonly data: Buffer;
  readonly key: string;
}

function plan(stack: LocalStack): Planned[] {
  const actionable = Math.max(1, Math.round(SIZE.events * ACTIONABLE_SHARE));
  // The down hosts: distinct, so that each actionable event takes a lock of its own.
  const down: { service: string; host: string }[] = [];
  for (let i = 0; down.length < actionable; i++) {
    const service = SERVICES[i % SERVICES.length] ?? '';
    const n = Math.floor(i / SERVICES.length) + 1;
    if (n >= HOSTS_PER_SERVICE) throw new Error('not enough hosts for the actionable events');
    down.push({ service, host: `${service}-${n}` });
  }
  for (const { host } of down) stack.fleet.inject({ kind: 'host_down', host });
  const events: Planned[] = [];
  // Spread the actionable events evenly through the storm.
  const every = Math.floor(SIZE.events / actionable);
  let nextDown = 0;
  for (let i = 0; i < SIZE.events; i++) {
    const isAct = i % every === 0 && nextDown < down.length;
    const target = isAct
      ? (down[nextDown++] ?? { service: '', host: '' })
      : {
          service: SERVICES[i % SERVICES.length] ?? '',
          // The last host of each service stays healthy.
          host: `${SERVICES[i % SERVICES.length] ?? ''}-${HOSTS_PER_SERVICE}`,
        };
    const id = `page-bench-${process.pid}-${i}`;
    events.push({
      id,
      actionable: isAct,
      key: `${target.host}-${i % 64}`,
      data: Buffer.from(
        JSON.stringify({
          id,
          type: 'NagiosHostAlarm',
          source: 'bench',
          time: '', // set when put
          environment: 'prod',
          service: target.service,
          host: target.host,
          incident_key: id,
          data: { host_state: 'DOWN', host_state_type: 'HARD', check: `page-bench-${i}` },
        }),
      ),
    });
  }
  return events;
}

async function put(stack: LocalStack, events: readonly Planned[]): Promise<void> {
  const now = new Date().toISOString();
  const records = events.map((e) => {
    const body = JSON.parse(e.data.toString('utf8')) as Record<string, unknown> & { service: string };
    body['time'] = now;
    // The sensor pages PagerDuty before it sends the event.
    stack.pagerduty.createIncident({ incidentKey: e.id, service: body.service });
    return { Data: Buffer.from(JSON.stringify(body)), PartitionKey: e.key };
  });
  const out = await stack.kinesis.send(
    new PutRecordsCommand({ StreamName: stack.region.stream, Records: records }),
  );
  if ((out.FailedRecordCount ?? 0) > 0) throw new Error(`${out.FailedRecordCount} records failed to put`);
}

/** Every decision, once each has its first response (the escalations come after the decision). */
async function settled(
  redis: Redis,
  keys: RedisKeys,
  ids: readonly string[],
  timeoutMs: number,
): Promise<Map<string, DecisionRecord>> {
  const deadline = Date.now() + timeoutMs;
  let nextLine = 0;
  for (;;) {
    const values = await redis.mget(...ids.map((id) => keys.decision(id)));
    const records = new Map<string, DecisionRecord>();
    values.forEach((v, i) => {
      if (v !== null) records.set(ids[i] ?? '', JSON.parse(v) as DecisionRecord);
    });
    const open = ids.filter((id) => {
      const d = records.get(id);
      return d === undefined || d.page === undefined;
    }).length;
    const line = `decided ${records.size}/${ids.length}, first responses pending ${open}`;
    if (process.stderr.isTTY) process.stderr.write(`\r  ${line}   `);
    else if (Date.now() >= nextLine) {
      process.stderr.write(`  ${line}\n`);
      nextLine = Date.now() + 10_000;
    }
    if (open === 0 || Date.now() > deadline) {
      process.stderr.write('\n');
      if (open > 0) process.stderr.write(`${open} events without a decision or a first response\n`);
      return records;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Most requests in any 60 s window. */
function peakPerMinute(calls: readonly PagerDutyCall[]): number {
  const at = calls.map((c) => c.at).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; j < at.length; j++) {
    while ((at[j] ?? 0) - (at[i] ?? 0) >= 60_000) i++;
    peak = Math.max(peak, j - i + 1);
  }
  return peak;
}

function kindOf(call: PagerDutyCall): string {
  const body = call.body as { incident?: { status?: string; escalation_level?: number } } | undefined;
  if (call.method === 'GET') return call.path.endsWith('/log_entries') ? 'log' : 'lookup';
  if (call.method === 'POST') return 'note';
  // PUT /incidents: several incidents' updates in one request.
  if (call.path === '/incidents') return 'shared update';
  if (body?.incident?.escalation_level !== undefined) return 'escalate';
  return body?.incident?.status === 'acknowledged' ? 'ack' : 'resolve';
}

async function main(): Promise<void> {
  process.env['LAZARUS_LOG_LEVEL'] ??= 'warn';
  process.stderr.write(
    `page storm${SMOKE ? ' (smoke size)' : ''}: ${SIZE.events} events in ${SIZE.seconds} s, ` +
      `${ACTIONABLE_SHARE * 100}% actionable, PagerDuty at ${SIZE.perMinute} requests/min\n`,
  );
  const services =
    'services:\n' +
    SERVICES.map(
      (s) =>
        `  ${s}:\n    profile: stateless\n    parameters: { min_active_hosts: 0, rate_limit_threshold: 1000000 }\n`,
    ).join('');
  const stack = await LocalStack.start({
    shards: 4,
    fleet: { services: Object.fromEntries(SERVICES.map((s) => [s, HOSTS_PER_SERVICE])) },
    region: {
      kinesis: { poll_interval: '50ms' },
      pagerduty: { budget: SIZE.race },
    },
    pagerduty: { requestsPerMinute: SIZE.perMinute },
    services,
  });
  const redis = new Redis(stack.redisUrl);
  const keys = new RedisKeys(stack.region.keyPrefix);
  try {
    const events = plan(stack);
    const started = Date.now();
    const ticks = SIZE.seconds * 10;
    for (let tick = 0; tick < ticks; tick++) {
      const from = Math.floor((tick * events.length) / ticks);
      const to = Math.floor(((tick + 1) * events.length) / ticks);
      if (to > from) await put(stack, events.slice(from, to));
      const next = started + (tick + 1) * 100;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
    process.stderr.write(
      `put in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for the pages...\n`,
    );
    const records = await settled(
      redis,
      keys,
      events.map((e) => e.id),
      SIZE.raceMs + 120_000,
    );
    // The last notes and resolves, then the count.
    let calls = stack.pagerduty.calls();
    for (let quiet = 0; quiet < 4;) {
      await new Promise((r) => setTimeout(r, 1_000));
      const now = stack.pagerduty.calls();
      quiet = now.length === calls.length ? quiet + 1 : 0;
      calls = now;
    }
    calls = calls.filter((c) => c.at >= started);

    // What the nodes' own metric says was left to the timer (it must agree with the records).
    let metricLeft = 0;
    for (const node of stack.region.nodes) {
      const text = await (await fetch(`http://${node.api}/metrics`)).text();
      for (const m of text.matchAll(/^lazarus_page_left_to_timer_total\{action="escalate"\} (\d+)/gm))
        metricLeft += Number(m[1]);
    }
    const acts = events.filter((e) => e.actionable).map((e) => records.get(e.id));
    const acked = acts.filter((d) => d?.decision === 'act' && d.page?.action === 'acknowledge' && d.page.ok);
    const ackLatency = acked.map((d) => d?.page?.latency_ms ?? NaN);
    const rest = events.filter((e) => !e.actionable).map((e) => records.get(e.id));
    const escalations = rest.filter((d) => d?.decision === 'escalate');
    const pageOf = (d: DecisionRecord | undefined): DecisionRecord['page'] => d?.page;
    const sent = escalations.filter((d) => pageOf(d)?.ok === true && pageOf(d)?.left_as_is === undefined);
    const leftToTimer = escalations.filter((d) => pageOf(d)?.left_to_timer === true);
    const failed = escalations.filter((d) => pageOf(d)?.ok === false && pageOf(d)?.left_to_timer !== true);
    const tooMany = calls.filter((c) => c.status === 429).length;
    // The remediations the acknowledgements let through (their resolve and notes share the budget).
    const runs = await Promise.all(
      acked.map(async (d) => {
        const text = await redis.hget(keys.run(`run-${d?.event_id ?? ''}`), 'run');
        const run = text === null ? undefined : (JSON.parse(text) as RunState);
        return run === undefined
          ? 'no run'
          : // BENCH_DEBUG=1: a failed run with its failure and its event's audit trail, whole.
            run.status === 'failed' && process.env['BENCH_DEBUG'] !== undefined
            ? `failed ${JSON.stringify(run.failure)} ${JSON.stringify(await redis.lrange(keys.audit(d?.event_id ?? ''), 0, -1))}`
            : run.status === 'failed'
              ? `failed at ${run.failure?.step ?? '?'}: ${(run.failure?.message ?? '').slice(0, 90)}`
              : run.status;
      }),
    );
    const peak = peakPerMinute(calls);
    const byKind = new Map<string, number>();
    for (const c of calls) byKind.set(kindOf(c), (byKind.get(kindOf(c)) ?? 0) + 1);
    /** Escalations PagerDuty received, alone or in a shared update, and the requests they took. */
    const escalatePuts = { updates: 0, requests: 0 };
    for (const c of calls) {
      if (c.method !== 'PUT') continue;
      const body = c.body as { incident?: object; incidents?: object[] } | undefined;
      const escalating = [
        ...(body?.incidents ?? []),
        ...(body?.incident === undefined ? [] : [body.incident]),
      ].filter((i) => (i as { escalation_level?: number }).escalation_level !== undefined).length;
      escalatePuts.updates += escalating;
      if (escalating > 0) escalatePuts.requests += 1;
    }

    process.stdout.write(
      '\n' +
        table([
          ['figure', 'value'],
          ['events (actionable / escalations)', `${events.length} (${acts.length} / ${rest.length})`],
          [
            'PagerDuty requests at peak, any 60 s window',
            `${peak} (budget ${SIZE.perMinute}/min: ${peak <= SIZE.perMinute ? 'within' : 'EXCEEDED'})`,
          ],
          ['429s received', String(tooMany)],
          [
            'acknowledgements of actionable events',
            `${acked.length}/${acts.length}, p50 ${pct(ackLatency, 50).toFixed(0)} ms, p99 ${pct(ackLatency, 99).toFixed(0)} ms from the event's time`,
          ],
          [
            '  their decisions (arrival in the stream → durable decision, the ack included)',
            `p50 ${pct(
              acked.map((d) => d?.latency_ms ?? NaN),
              50,
            ).toFixed(0)} ms, p99 ${pct(
              acked.map((d) => d?.latency_ms ?? NaN),
              99,
            ).toFixed(0)} ms`,
          ],
          [
            'escalations sent by the controller',
            `${sent.length} (PagerDuty saw ${escalatePuts.updates} escalations, in ${escalatePuts.requests} requests)`,
          ],
          [
            'actionable events decided',
            [
              ...countBy(
                acts.map((d) =>
                  d === undefined
                    ? 'undecided'
                    : d.decision === 'act'
                      ? 'act'
                      : `escalate ${d.reason ?? '?'}${d.page?.left_to_timer === true ? ' (page left to the timer)' : ''}`,
                ),
              ),
            ]
              .map(([k, v]) => `${k}: ${v}`)
              .join(', '),
          ],
          ['their remediations', [...countBy(runs)].map(([k, v]) => `${k}: ${v}`).join('; ')],
          [
            'escalations left to PagerDuty’s timer (budget)',
            `${leftToTimer.length} (lazarus_page_left_to_timer_total{action="escalate"} over the nodes: ${metricLeft})`,
          ],
          [
            'escalations not sent otherwise (failed / taken / undecided)',
            `${failed.length} / ${escalations.filter((d) => d?.page?.left_as_is !== undefined).length} / ${rest.length - escalations.length}`,
          ],
        ]) +
        '\n\n' +
        table([
          ['requests by kind', 'count'],
          ...[...byKind.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, String(v)]),
        ]) +
        '\n\n' +
        table([['seconds from the first put', 'requests', '429s'], ...windows(calls, started, 10_000)]) +
        '\n',
    );
    if (peak > SIZE.perMinute || tooMany > 0) {
      process.stderr.write('the request budget did not hold\n');
      process.exitCode = 1;
    }
    if (acked.length === 0 || records.size < events.length) {
      process.stderr.write('the storm did not run through: no acknowledgement, or events undecided\n');
      process.exitCode = 1;
    }
  } finally {
    redis.disconnect();
    await stack.stop();
    await stack.remove();
  }
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** Requests per `stepMs` window after `start`. */
function windows(calls: readonly PagerDutyCall[], start: number, stepMs: number): string[][] {
  const rows: string[][] = [];
  const end = Math.max(start, ...calls.map((c) => c.at));
  for (let t = start; t <= end; t += stepMs) {
    const inside = calls.filter((c) => c.at >= t && c.at < t + stepMs);
    rows.push([
      `${(t - start) / 1000}–${(t - start + stepMs) / 1000}`,
      String(inside.length),
      String(inside.filter((c) => c.status === 429).length),
    ]);
  }
  return rows;
}

await main();
