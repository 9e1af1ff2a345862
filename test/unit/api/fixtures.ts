/**
 * Audit records in the shapes the pipeline writes them, written through the real writers
 * (`DecisionStore.write` with its Lua script, `DecisionStore.reject`, `RedisRunStore`), so that the
 * reader is tested against what is really in Redis.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../../src/common/keys.js';
import { REASON_TEXT } from '../../../src/records/decision.js';
import type { DecisionRecord, EscalationReason, Outcome } from '../../../src/records/decision.js';
import { DecisionStore } from '../../../src/controller/decision-store.js';
import type { RejectedRecord } from '../../../src/controller/decision-store.js';
import { RedisRunStore } from '../../../src/workflow/redis-store.js';
import type { RunState, StepState } from '../../../src/workflow/types.js';

export function freshKeys(): RedisKeys {
  return new RedisKeys(`test-api-${randomBytes(5).toString('hex')}:`);
}

export interface DecisionSpec {
  readonly id: string;
  readonly decidedAt: number;
  readonly service?: string;
  readonly host?: string;
  readonly decision?: Outcome;
  readonly reason?: EscalationReason;
  readonly node?: string;
}

const ZONES: Record<string, string> = { a: 'local-1a', b: 'local-1b', c: 'local-1c' };

/** A decision record as `Pipeline.build` makes it: three votes with evidence, gates, lock. */
export function decisionRecord(spec: DecisionSpec): DecisionRecord {
  const service = spec.service ?? 'sms-api';
  const host = spec.host ?? `${service}-1`;
  const decision = spec.decision ?? (spec.reason === undefined ? 'act' : 'escalate');
  const node = spec.node ?? 'a';
  const arrived = spec.decidedAt - 40;
  const time = new Date(arrived - 100).toISOString();
  const pass = decision === 'act' || spec.reason === undefined;
  const vote = (n: string, ok: boolean): DecisionRecord['votes'][number] => ({
    node: n,
    zone: ZONES[n] ?? n,
    pass: ok,
    durationMs: 12,
    checks: [
      {
        name: 'HealthCheckDown',
        pass: true,
        measured: `status 503 from ${ZONES[n] ?? n}`,
        threshold: 'no 2xx',
        detail: `GET http://${host}/health`,
      },
      {
        name: 'MinActiveHosts',
        pass: ok,
        measured: ok ? 'healthy_others=4' : 'healthy_others=1',
        threshold: '>= 3',
        detail: 'other active hosts answering healthy from this node',
      },
    ],
  });
  const voted = decision === 'act' || spec.reason === 'checks_failed' || spec.reason === 'lock_held';
  return {
    version: 1,
    event_id: spec.id,
    decision,
    ...(spec.reason === undefined ? {} : { reason: spec.reason, reason_text: REASON_TEXT[spec.reason] }),
    service,
    host,
    event_type: 'NagiosHostAlarm',
    ...(spec.reason === 'no_rule'
      ? {}
      : {
          rule: {
            id: `${service}/nagios_host_down`,
            name: 'nagios_host_down',
            workflow: 'default.replace_host',
            lock: 'host',
            checks: [
              { name: 'HealthCheckDown' },
              { name: 'MinActiveHosts', threshold: 3, source: 'service' },
            ],
          },
        }),
    ...(decision === 'duplicate' ? { duplicate_of: `${spec.id}-first` } : {}),
    age_ms: 140,
    gates: {
      rate: {
        allowed: spec.reason !== 'rate_limited',
        count: spec.reason === 'rate_limited' ? 11 : 1,
        threshold: 10,
        window_ms: 600_000,
      },
      breaker: { open: spec.reason === 'breaker_open', services: 1, threshold: 10, window_ms: 600_000 },
    },
    ...(decision === 'act' || spec.reason === 'lock_held'
      ? {
          lock: {
            resource: `host:${service}/${host}`,
            owner: `event:${spec.id}`,
            token: 7,
            acquired: decision === 'act',
          },
        }
      : {}),
    quorum: 2,
    coordinator: { node, zone: ZONES[node] ?? node },
    votes: voted ? [vote('a', pass), vote('b', pass), vote('c', pass)] : [],
    failures: [],
    source: { shard: 'shardId-000000000001', sequence: `4960${spec.decidedAt}` },
    event_time: time,
    arrived_at: new Date(arrived).toISOString(),
    decided_at: new Date(spec.decidedAt).toISOString(),
    latency_ms: 40,
    ...(voted ? { vote_ms: 15 } : {}),
    event: {
      id: spec.id,
      type: 'NagiosHostAlarm',
      source: 'nagios',
      time,
      environment: 'prod',
      service,
      host,
      data: { host_state: 'DOWN', host_state_type: 'HARD' },
    },
  };
}

export async function writeDecisions(
  redis: Redis,
  keys: RedisKeys,
  specs: readonly DecisionSpec[],
): Promise<DecisionRecord[]> {
  const store = new DecisionStore(redis, keys);
  const records = specs.map((s) => decisionRecord(s));
  for (const r of records) {
    if (!(await store.write(r))) throw new Error(`decision ${r.event_id} was already written`);
  }
  return records;
}

/** The run the pipeline starts for an `act` decision, with its steps as the engine leaves them. */
export async function writeRun(
  redis: Redis,
  keys: RedisKeys,
  record: DecisionRecord,
  status: 'running' | 'succeeded' | 'failed',
): Promise<RunState> {
  const started = Date.parse(record.decided_at) + 5;
  const step = (
    id: string,
    s: StepState['status'],
    offset: number,
    extra: Partial<StepState> = {},
  ): StepState => ({
    id,
    phase: 'main',
    status: s,
    attempts: s === 'pending' ? 0 : 1,
    ...(s === 'pending'
      ? {}
      : {
          started_at: new Date(started + offset).toISOString(),
          finished_at: new Date(started + offset + 20).toISOString(),
          duration_ms: 20,
        }),
    ...extra,
  });
  const run: RunState = {
    id: `run-${record.event_id}`,
    workflow: 'default.replace_host',
    status: 'running',
    event: { ...record.event },
    rule: { id: record.rule?.id ?? '', name: 'nagios_host_down', inputs: { notification_group: 'sms' } },
    params: { min_active_hosts: 3 },
    region: { name: 'local-1', orchestrator_url: 'http://127.0.0.1:8300' },
    started_at: new Date(started).toISOString(),
    deadline_at: new Date(started + 1_800_000).toISOString(),
    ...(record.lock === undefined
      ? {}
      : { lock: { resource: record.lock.resource, owner: record.lock.owner, token: record.lock.token } }),
    nodes: [record.coordinator.node],
    steps: {
      acknowledge: step('acknowledge', 'skipped', 0),
      lb_out: step('lb_out', 'succeeded', 10, { outputs: { status: 200 } }),
      boot: step(
        'boot',
        status === 'failed' ? 'failed' : 'succeeded',
        40,
        status === 'failed' ? { error: 'orchestrator answered 500' } : { outputs: { host: 'sms-api-9' } },
      ),
      verify: step('verify', status === 'succeeded' ? 'succeeded' : 'pending', 80),
    },
  };
  const store = new RedisRunStore(redis, keys);
  await store.create(run);
  if (status !== 'running') {
    run.status = status;
    run.finished_at = new Date(started + 200).toISOString();
    if (status === 'failed')
      run.failure = { step: 'boot', message: 'orchestrator answered 500', reason: 'step_failed' };
    await store.saveRun(run);
  }
  return run;
}

let sequence = 1000;

/** A record that was not an event, as the pipeline records it. */
export async function writeRejected(
  redis: Redis,
  keys: RedisKeys,
  raw: string,
  options: { code?: string; at?: number; node?: string } = {},
): Promise<RejectedRecord> {
  sequence += 1;
  const bytes = Buffer.from(raw, 'utf8');
  const record: RejectedRecord = {
    shard: 'shardId-000000000002',
    sequence: `4970${sequence}`,
    code: options.code ?? 'LZ_ERR_EVENT_INVALID',
    message: 'event is invalid: / missing required field "time"',
    errors: [{ path: '', message: 'missing required field "time"' }],
    size: bytes.byteLength,
    raw: bytes.subarray(0, 4096).toString('base64'),
    node: options.node ?? 'b',
    at: new Date(options.at ?? Date.now()).toISOString(),
  };
  const store = new DecisionStore(redis, keys);
  if (!(await store.reject(record))) throw new Error('rejected record written twice');
  return record;
}
