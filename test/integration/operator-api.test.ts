/**
 * The operator's REST API against a live local region (issue 7's acceptance): kinesis-local, a
 * private redis-server, the fleet and PagerDuty simulators and three node processes. Nothing is
 * seeded: every record the API shows was decided by the nodes from events put on the stream. In one
 * order that keeps the cases apart: an `act` with its run, a duplicate of it, the metrics moving, a
 * rejected record, one escalation per reason (the node stops and kills and the circuit breaker
 * last, since they change the region for what follows), then the list's filters and pages over all
 * of it.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { AuditEntry } from '../../src/audit/log.js';
import type { EventSummary } from '../../src/audit/summary.js';
import type { TimelineEntry, TimelineStage } from '../../src/audit/timeline.js';
import type { ClusterView, ServiceView } from '../../src/api/views.js';
import type { DecisionRecord, EscalationReason } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import type { RunState } from '../../src/workflow/types.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import type { TestEvent } from '../helpers/cluster.js';
import { parseExposition } from '../helpers/prometheus.js';
import type { Exposition } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

// `limited` allows one event in its window: the second is rate limited.
const SERVICES = `services:
  sms-api:
    profile: stateless
    team: messaging
    parameters: { rate_limit_threshold: 10000 }
  limited:
    profile: stateless
    parameters: { rate_limit_threshold: 1 }
`;

/** `events.max_bytes`, set here so that the 413 case knows the limit. */
const MAX_BYTES = 16_384;
/**
 * Open when more than this many services are in the window. Every event that is neither stale nor a
 * duplicate counts its service, before the rule match: sms-api and limited make 2 until the breaker
 * case adds extra-1 (3) and extra-2 (4, open).
 */
const BREAKER_THRESHOLD = 3;
const SHARDS = 4;
const VOTE_TIMEOUT_MS = 3000;
const NODES = ['a', 'b', 'c'] as const;
/** A submit-only token of `api.tokens` (named `nagios`), beside the stack's own (`default`). */
const NAGIOS_TOKEN = `nagios-${Math.random().toString(36).slice(2)}`;

const ALL_STAGES: readonly TimelineStage[] = [
  'received',
  'parsed',
  'stale',
  'dedup',
  'match',
  'gates',
  'vote',
  'lock',
  'decision',
  'page',
  'notify',
  'workflow',
  'step',
];

interface Trace {
  decision: DecisionRecord;
  run: RunState | null;
  audit: AuditEntry[];
  timeline: TimelineEntry[];
}

interface EventPage {
  items: EventSummary[];
  next?: string;
  scanned: number;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

interface ErrorBody {
  error: { code: string; message: string; errors?: { path: string; message: string }[]; event_code?: string };
}

describe('operator API against a live local region', { timeout: 300_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;
  /** Every event decided in this region, by id, as its record was first read. */
  const produced = new Map<string, DecisionRecord>();
  /** Events the API refused (401, 400, 413): none may ever be decided. */
  const refused: string[] = [];
  let act: { event: TestEvent; record: DecisionRecord } | undefined;
  let rejectedId: string | undefined;

  before(async () => {
    stack = await LocalStack.start({
      services: SERVICES,
      shards: SHARDS,
      fleet: { services: { 'sms-api': 10, limited: 4 } },
      region: {
        thresholds: { vote_timeout: `${VOTE_TIMEOUT_MS}ms`, breaker_threshold: BREAKER_THRESHOLD },
        kinesis: { lease_ttl: '3s', poll_interval: '50ms' },
        workflows: { lease_ttl: '3s' },
        pagerduty: { budget: '3s', incident_grace: '1s' },
        events: { max_bytes: MAX_BYTES },
        api: { tokens: [{ name: 'nagios', env: 'LAZARUS_TEST_NAGIOS_TOKEN', roles: ['submit'] }] },
      },
      env: { LAZARUS_TEST_NAGIOS_TOKEN: NAGIOS_TOKEN },
    });
    probe = new ClusterProbe(stack);
  });
  after(async () => {
    // A failed case may leave nodes frozen: they must take the SIGTERM of stop().
    for (const node of stack?.nodes.values() ?? []) node.child.kill('SIGCONT');
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  // ---------------------------------------------------------------------------------------------
  // HTTP and trace helpers

  async function call(path: string, init: RequestInit = {}, node = 'a'): Promise<Answer> {
    const res = await fetch(stack.apiUrl(node) + path, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  async function getJson<T>(path: string, node = 'a'): Promise<T> {
    const answer = await call(path, {}, node);
    assert.equal(answer.status, 200, `GET ${path} on ${node}: ${answer.text}`);
    return answer.json as T;
  }

  function post(body: string, headers: Record<string, string> = {}): Promise<Answer> {
    return call('/v1/events', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });
  }

  function bearer(token = stack.apiToken): Record<string, string> {
    return { Authorization: `Bearer ${token}` };
  }

  function errorOf(answer: Answer): ErrorBody['error'] {
    const body = answer.json as ErrorBody | undefined;
    assert.ok(body?.error !== undefined, `an error body: ${answer.text}`);
    return body.error;
  }

  /** The event's decision, once there is one; remembered for the list cases. */
  async function decided(id: string, timeoutMs = 20_000): Promise<DecisionRecord> {
    const record = await probe.waitDecision(id, timeoutMs);
    produced.set(id, record);
    return record;
  }

  async function put(event: TestEvent, timeoutMs?: number): Promise<DecisionRecord> {
    await probe.put(event);
    return decided(event.id, timeoutMs);
  }

  /** The event's trace; every timeline entry checked for its shape on the way. */
  async function trace(id: string): Promise<Trace> {
    const t = await getJson<Trace>(`/v1/events/${encodeURIComponent(id)}`);
    for (const e of t.timeline) {
      const where = `${id}: ${JSON.stringify(e)}`;
      assert.ok(ALL_STAGES.includes(e.stage), where);
      assert.ok(!Number.isNaN(Date.parse(e.at)) && e.at === new Date(e.at).toISOString(), where);
      assert.ok(typeof e.title === 'string' && e.title !== '', where);
      assert.ok(e.node === undefined || typeof e.node === 'string', where);
      assert.ok(e.ok === undefined || typeof e.ok === 'boolean', where);
      assert.ok(e.duration_ms === undefined || e.duration_ms >= 0, where);
      const keys = Object.keys(e).filter(
        (k) => !['at', 'stage', 'node', 'ok', 'title', 'detail', 'duration_ms'].includes(k),
      );
      assert.deepEqual(keys, [], where);
    }
    return t;
  }

  function stagesOf(t: Trace): Set<TimelineStage> {
    return new Set(t.timeline.map((e) => e.stage));
  }

  function entries(t: Trace, stage: TimelineStage): TimelineEntry[] {
    return t.timeline.filter((e) => e.stage === stage);
  }

  function only(t: Trace, stage: TimelineStage): TimelineEntry {
    const found = entries(t, stage);
    assert.equal(found.length, 1, `one ${stage} entry in ${show(t)}`);
    return found[0]!;
  }

  function show(t: Trace): string {
    return t.timeline
      .map((e) => `\n  ${e.at} ${e.stage} ${e.node ?? '-'} ${String(e.ok ?? '')} ${e.title}`)
      .join('');
  }

  /** The stages' first entries come in this order (the pipeline's order, DESIGN.md). */
  function assertOrder(t: Trace, order: readonly TimelineStage[]): void {
    const at = order.map((s) => t.timeline.findIndex((e) => e.stage === s));
    for (const [i, index] of at.entries()) assert.ok(index >= 0, `stage ${order[i]} in ${show(t)}`);
    for (let i = 1; i < at.length; i++)
      assert.ok(at[i - 1]! < at[i]!, `${order[i - 1]} before ${order[i]} in ${show(t)}`);
    // What came after the decision is in time order.
    const rest = t.timeline.slice(t.timeline.findIndex((e) => e.stage === 'decision') + 1);
    for (let i = 1; i < rest.length; i++)
      assert.ok(
        Date.parse(rest[i - 1]!.at) <= Date.parse(rest[i]!.at),
        `after the decision, in time order: ${show(t)}`,
      );
  }

  /**
   * The trace of an escalation, once its "escalated" notification is in it: the decision entry names
   * the reason, `present` stages are there (received, parsed, decision and notify always), and no
   * other stage is.
   */
  async function escalationTrace(
    id: string,
    reason: EscalationReason,
    present: readonly TimelineStage[],
  ): Promise<Trace> {
    const t = await waitFor(
      `the "escalated" notification in the trace of ${id}`,
      async () => {
        const found = await trace(id);
        return found.audit.some((e) => e.kind === 'notify' && e.action === 'escalated') ? found : undefined;
      },
      20_000,
    );
    assert.equal(t.decision.event_id, id);
    assert.equal(t.decision.decision, 'escalate');
    assert.equal(t.decision.reason, reason);
    const expected = new Set<TimelineStage>(['received', 'parsed', 'decision', 'notify', ...present]);
    assert.deepEqual(
      [...stagesOf(t)].sort(),
      [...expected].sort(),
      `the stages of a ${reason} escalation: ${show(t)}`,
    );
    const decision = only(t, 'decision');
    assert.equal(decision.ok, false);
    assert.equal(decision.node, t.decision.coordinator.node);
    assert.ok(decision.title.startsWith(`escalate (${reason}): `), decision.title);
    const notify = entries(t, 'notify').find((e) => e.title.startsWith('notification "escalated"'));
    assert.ok(notify !== undefined, show(t));
    assert.equal(t.run, null, 'an escalation runs no workflow');
    return t;
  }

  // ---------------------------------------------------------------------------------------------
  // Prometheus text format

  async function scrape(node: string): Promise<Exposition> {
    const answer = await call('/metrics', {}, node);
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseExposition(answer.text);
  }

  // ---------------------------------------------------------------------------------------------
  // 1. act

  test('act with an incident key: the trace has every stage, the run every step', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-1' });
    const event = hostDown('sms-api', 'sms-api-1', { incident_key: 'PD-act' });
    probe.page(event);
    const d = await put(event);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    act = { event, record: d };
    const finished = await probe.finished(`run-${event.id}`);
    assert.equal(finished.status, 'succeeded', JSON.stringify(finished.failure));

    const t = await waitFor(
      'the "resolved" notification in the trace',
      async () => {
        const found = await trace(event.id);
        return found.audit.some((e) => e.kind === 'notify' && e.action === 'resolved') ? found : undefined;
      },
      20_000,
    );
    assert.deepEqual([...stagesOf(t)].sort(), [...ALL_STAGES].sort(), show(t));
    assertOrder(t, [
      'received',
      'parsed',
      'stale',
      'dedup',
      'match',
      'gates',
      'vote',
      'lock',
      'page',
      'decision',
    ]);

    const node = d.coordinator.node;
    const received = only(t, 'received');
    assert.equal(received.node, node);
    assert.equal(received.detail?.['shard'], d.source.shard);
    assert.equal(received.detail?.['sequence'], d.source.sequence);
    // Put on the stream by the test, as a sensor does: no API stamp, and the trail says so.
    assert.deepEqual(d.submitted_by, { via: 'stream' });
    assert.match(received.title, /; submitted directly to the stream, not through the REST API$/);
    for (const stage of ['parsed', 'stale', 'dedup', 'match', 'gates'] as const)
      assert.equal(only(t, stage).ok, true, `${stage}: ${show(t)}`);
    assert.match(only(t, 'stale').title, /^fresh: /);
    assert.match(
      only(t, 'match').title,
      /^rule sms-api\/nagios_host_down matches .*workflow default\.replace_host, lock host/,
    );
    assert.match(
      only(t, 'gates').title,
      /^rate \d+\/10000 in 10m; breaker closed \(\d\/3 services failing in 10m\)$/,
    );

    // The decision need not wait for the third vote; a late one is added as a vote entry too.
    const votes = entries(t, 'vote');
    const voters = votes.map((v) => v.node ?? '');
    assert.ok(votes.length >= 2, show(t));
    assert.equal(new Set(voters).size, voters.length, 'one vote per node');
    for (const v of votes) {
      assert.ok((NODES as readonly string[]).includes(v.node ?? ''), v.node);
      assert.equal(v.ok, true, v.title);
      assert.match(v.title, /vote[sd] pass/);
    }
    assert.ok(d.votes.filter((v) => v.pass).length >= 2);

    const lock = only(t, 'lock');
    assert.equal(lock.ok, true);
    assert.match(lock.title, /^lock host:sms-api\/sms-api-1 taken \(fencing token \d+\)$/);
    const page = entries(t, 'page');
    assert.equal(page[0]?.ok, true, show(t));
    assert.match(page[0]?.title ?? '', /^acknowledge incident \S+: done /);
    assert.equal(d.page?.action, 'acknowledge');
    assert.equal(d.page.ok, true);
    // Acknowledged before the decision was recorded, as PagerDuty's own log shows too.
    assert.ok(Date.parse(d.page.at) <= Date.parse(d.decided_at), `${d.page.at} <= ${d.decided_at}`);
    const acked = stack.pagerduty.incident('PD-act')?.log.find((e) => e.action === 'acknowledged');
    assert.ok(acked !== undefined && Date.parse(acked.at) <= Date.parse(d.decided_at), JSON.stringify(acked));
    const decision = only(t, 'decision');
    assert.equal(decision.ok, true);
    assert.equal(decision.node, node);
    assert.equal(decision.duration_ms, d.latency_ms);
    assert.match(decision.title, /^act: [23] of [23] votes pass \(2 needed\)$/);

    const told = entries(t, 'notify').map((e) => /^notification "([a-z_]+)"/.exec(e.title)?.[1]);
    for (const kind of ['acknowledged', 'remediation_started', 'resolved'])
      assert.ok(told.includes(kind), `notification ${kind} in ${show(t)}`);
    const workflow = entries(t, 'workflow').map((e) => e.title);
    assert.ok(workflow.includes(`workflow default.replace_host started (run run-${event.id})`), show(t));
    assert.ok(workflow.includes('workflow default.replace_host succeeded'), show(t));

    // The run, as the API shows it: every main step succeeded, each one a step entry.
    assert.ok(t.run !== null);
    assert.equal(t.run.id, `run-${event.id}`);
    assert.equal(t.run.status, 'succeeded');
    assert.equal(t.run.workflow, 'default.replace_host');
    assert.deepEqual(t.run, await probe.run(`run-${event.id}`), 'the API shows the run as stored');
    const main = Object.values(t.run.steps).filter((s) => s.phase === 'main');
    assert.deepEqual(main.map((s) => s.id).sort(), [
      'acknowledge',
      'announce',
      'boot',
      'forensics',
      'lb_in',
      'lb_out',
      'resolve',
      'verify',
    ]);
    const steps = entries(t, 'step');
    for (const s of main) {
      assert.equal(s.status, 'succeeded', `${s.id}: ${s.error ?? ''}`);
      assert.ok(s.started_at !== undefined && s.finished_at !== undefined, s.id);
      const entry = steps.find((e) => e.title === `${s.id}: succeeded`);
      assert.ok(entry !== undefined, `a step entry for ${s.id} in ${show(t)}`);
      assert.equal(entry.ok, true);
    }
    for (const s of Object.values(t.run.steps).filter((x) => x.phase === 'on_failure'))
      assert.notEqual(s.status, 'succeeded', `on_failure ${s.id} did not run`);
    assert.equal(typeof t.run.steps['boot']?.outputs?.['body'], 'object', 'the clone answered');
  });

  // ---------------------------------------------------------------------------------------------
  // 2. duplicate

  test('duplicate: the same report again within the dedup window is folded into the first', async () => {
    assert.ok(act !== undefined, 'the act case ran');
    const again = hostDown('sms-api', 'sms-api-1', { incident_key: 'PD-act' });
    assert.notEqual(again.id, act.event.id);
    const d = await put(again);
    assert.equal(d.decision, 'duplicate');
    assert.equal(d.duplicate_of, act.event.id);
    const t = await trace(again.id);
    assert.deepEqual(
      t.timeline.map((e) => e.stage),
      ['received', 'parsed', 'stale', 'dedup', 'decision'],
    );
    const dedup = only(t, 'dedup');
    assert.equal(dedup.ok, false);
    assert.equal(dedup.detail?.['duplicate_of'], act.event.id);
    assert.equal(only(t, 'decision').title, `duplicate of ${act.event.id}`);
    assert.equal(t.run, null);
  });

  // ---------------------------------------------------------------------------------------------
  // 3. metrics

  test('GET /metrics is Prometheus text on every node, and its counters move as an event is decided', async () => {
    assert.ok(act !== undefined, 'the act case ran');
    const before = new Map<string, Exposition>();
    for (const node of NODES) before.set(node, await scrape(node));

    // The act event's coordinator acknowledged its page.
    const ackNode = before.get(act.record.coordinator.node)!;
    const ack = ackNode.families.get('lazarus_page_ack_latency_ms');
    assert.equal(ack?.type, 'histogram');
    assert.ok(ackNode.value('lazarus_page_ack_latency_ms_count') >= 1, 'an acknowledgement observed');
    assert.ok(ackNode.value('lazarus_page_ack_latency_ms_sum') > 0);
    assert.equal(ackNode.families.get('lazarus_decisions_total')?.type, 'counter');
    assert.equal(ackNode.families.get('lazarus_events_received_total')?.type, 'counter');

    // sms-api-2 is healthy: the checks fail on every node.
    const event = hostDown('sms-api', 'sms-api-2');
    const d = await put(event);
    assert.equal(d.reason, 'checks_failed', `${d.decision}/${d.reason ?? ''}`);
    const coordinator = d.coordinator.node;
    const labels = { outcome: 'escalate', reason: 'checks_failed' };
    const was = before.get(coordinator)!;
    // The counters move just after the record is written.
    const now = await waitFor(`the decision counted on ${coordinator}`, async () => {
      const m = await scrape(coordinator);
      return m.value('lazarus_decisions_total', labels) > was.value('lazarus_decisions_total', labels)
        ? m
        : undefined;
    });
    const delta = (name: string, l: Record<string, string> = {}): number =>
      now.value(name, l) - was.value(name, l);
    assert.equal(delta('lazarus_decisions_total', labels), 1);
    assert.equal(delta('lazarus_decisions_total', { outcome: 'act' }), 0);
    assert.ok(delta('lazarus_events_received_total') >= 1);
    assert.equal(delta('lazarus_decision_latency_ms_count', { outcome: 'escalate' }), 1);
    assert.equal(
      delta('lazarus_votes_total', { result: 'fail' }),
      d.votes.filter((v) => !v.pass).length,
      'each vote counted by the coordinator',
    );
    assert.ok(delta('lazarus_api_requests_total', { route: '/metrics', status: '200' }) >= 1);
    for (const node of NODES.filter((n) => n !== coordinator)) {
      const other = await scrape(node);
      assert.equal(
        other.value('lazarus_decisions_total', labels) -
          before.get(node)!.value('lazarus_decisions_total', labels),
        0,
        `node ${node} did not decide it`,
      );
    }
  });

  // ---------------------------------------------------------------------------------------------
  // 4. a record that is not an event

  test('a malformed record: listed as rejected, with its own trace and metric', async () => {
    const bad = await probe.put(Buffer.from('not json'));
    const id = `rejected:${bad.shard}:${bad.sequence}`;
    const item = await waitFor(
      'the rejected record in the list',
      async () => (await getJson<EventPage>('/v1/events?status=rejected')).items.find((i) => i.id === id),
      20_000,
    );
    rejectedId = id;
    assert.equal(item.decision, 'rejected');
    assert.equal(item.reason, 'LZ_ERR_EVENT_NOT_JSON');
    assert.match(item.message ?? '', /not JSON/);
    assert.ok((NODES as readonly string[]).includes(item.coordinator), item.coordinator);
    const { rejected } = await getJson<{ rejected: { code: string; raw: string; sequence: string } }>(
      `/v1/events/${encodeURIComponent(id)}`,
    );
    assert.equal(rejected.code, 'LZ_ERR_EVENT_NOT_JSON');
    assert.equal(rejected.sequence, bad.sequence);
    assert.equal(Buffer.from(rejected.raw, 'base64').toString(), 'not json');
    const m = await scrape(item.coordinator);
    assert.ok(m.value('lazarus_events_rejected_total', { code: 'LZ_ERR_EVENT_NOT_JSON' }) >= 1);
  });

  // ---------------------------------------------------------------------------------------------
  // 5. escalations, each with its stages

  test('escalate stale: an event an hour old is not looked at further', async () => {
    const event = hostDown('sms-api', 'sms-api-3', { time: new Date(Date.now() - 3_600_000).toISOString() });
    const d = await put(event);
    assert.equal(d.reason, 'stale', `${d.decision}/${d.reason ?? ''}`);
    const t = await escalationTrace(event.id, 'stale', ['stale']);
    assertOrder(t, ['received', 'parsed', 'stale', 'decision']);
    const stale = only(t, 'stale');
    assert.equal(stale.ok, false);
    assert.match(stale.title, /^stale: /);
    assert.ok(Number(stale.detail?.['age_ms']) >= 3_600_000, JSON.stringify(stale.detail));
  });

  test('escalate no_rule: an event type no rule of the service matches', async () => {
    const event = hostDown('sms-api', 'sms-api-3', { type: 'DiskFull', data: { mount: '/var' } });
    const d = await put(event);
    assert.equal(d.reason, 'no_rule', `${d.decision}/${d.reason ?? ''}`);
    assert.equal(d.gates?.rate?.allowed, true, 'counted before the match');
    const t = await escalationTrace(event.id, 'no_rule', ['stale', 'dedup', 'match']);
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'decision']);
    const match = only(t, 'match');
    assert.equal(match.ok, false);
    assert.equal(match.title, 'no rule of sms-api matches DiskFull');
  });

  test('escalate checks_failed: the host is healthy from every zone', async () => {
    const event = hostDown('sms-api', 'sms-api-8');
    const d = await put(event);
    assert.equal(d.reason, 'checks_failed', `${d.decision}/${d.reason ?? ''}`);
    const t = await escalationTrace(event.id, 'checks_failed', ['stale', 'dedup', 'match', 'gates', 'vote']);
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'vote', 'decision']);
    const votes = entries(t, 'vote');
    assert.ok(votes.length >= 2, show(t));
    for (const v of votes) assert.equal(v.ok, false, v.title);
    // Votes the decision counted list the failed checks; a late one says it came after, and which.
    for (const v of votes.filter((x) => x.detail?.['late'] !== true))
      assert.match(v.title, /votes fail: \d+\/\d+ checks pass \(failed: .*HealthCheckDown/);
    for (const v of votes.filter((x) => x.detail?.['late'] === true))
      assert.match(v.title, /voted fail after the decision: 3\/4 checks pass \(failed: HealthCheckDown\)$/);
  });

  test('escalate rate_limited: the second event of a service allowed one', async () => {
    const first = await put(hostDown('limited', 'limited-1'));
    assert.equal(first.gates?.rate?.allowed, true);
    assert.equal(first.gates?.rate?.count, 1);
    const event = hostDown('limited', 'limited-2');
    const d = await put(event);
    assert.equal(d.reason, 'rate_limited', `${d.decision}/${d.reason ?? ''}`);
    assert.deepEqual([d.gates?.rate?.allowed, d.gates?.rate?.count, d.gates?.rate?.threshold], [false, 2, 1]);
    const t = await escalationTrace(event.id, 'rate_limited', ['stale', 'dedup', 'match', 'gates']);
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'decision']);
    const gates = only(t, 'gates');
    assert.equal(gates.ok, false);
    assert.match(gates.title, /^rate 2\/1 in 10m \(over the limit\); breaker closed/);
  });

  test('escalate lock_held: the host is locked by another remediation', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-4' });
    // Another remediation holds the host's lock (a run in progress, as the node that runs it would
    // have taken it). Set by hand: a real run takes the host out of the load balancer at once, and
    // a report decided after that fails HostActive instead, depending on how fast the machine is.
    const owner = 'event:earlier-remediation@b';
    await probe.redis.set(probe.keys.lock('host:sms-api/sms-api-4'), `${owner}:41`, 'PX', 120_000);
    const d = await put(hostDown('sms-api', 'sms-api-4'));
    await probe.redis.del(probe.keys.lock('host:sms-api/sms-api-4'));
    assert.equal(d.reason, 'lock_held', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    assert.deepEqual(d.lock, { resource: 'host:sms-api/sms-api-4', owner, token: 41, acquired: false });
    const t = await escalationTrace(d.event_id, 'lock_held', [
      'stale',
      'dedup',
      'match',
      'gates',
      'vote',
      'lock',
    ]);
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'vote', 'lock', 'decision']);
    const lock = only(t, 'lock');
    assert.equal(lock.ok, false);
    assert.equal(lock.title, `lock host:sms-api/sms-api-4 is held by ${owner}`);
    assert.ok(entries(t, 'vote').filter((v) => v.ok === true).length >= 2, 'the checks had passed');
  });

  test('escalate dependency_down: PagerDuty unreachable, so the page cannot be acknowledged', async () => {
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-5' });
    const event = hostDown('sms-api', 'sms-api-5', { incident_key: 'PD-down' });
    probe.page(event);
    await stack.pagerduty.down();
    let d: DecisionRecord;
    try {
      d = await put(event, 30_000);
    } finally {
      await stack.pagerduty.up();
    }
    assert.equal(d.reason, 'dependency_down', `${d.decision}/${d.reason ?? ''} ${d.error ?? ''}`);
    assert.match(d.error ?? '', /could not be acknowledged/);
    assert.equal(d.lock, undefined, 'the lock was released');
    const t = await escalationTrace(event.id, 'dependency_down', [
      'stale',
      'dedup',
      'match',
      'gates',
      'vote',
      'page',
    ]);
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'vote', 'decision']);
    assert.ok(entries(t, 'vote').filter((v) => v.ok === true).length >= 2, 'the checks had passed');
    const ackCall = entries(t, 'page').find((e) => e.title.startsWith('acknowledge'));
    assert.ok(ackCall !== undefined, show(t));
    assert.equal(ackCall.ok, false);
    assert.match(only(t, 'decision').title, /could not be acknowledged/);
    assert.equal(await probe.redis.exists(probe.keys.lock('host:sms-api/sms-api-5')), 0);
  });

  // ---------------------------------------------------------------------------------------------
  // 6. writes

  test('POST /v1/events: 401 without the token, 400 with the errors, 413 over max_bytes, 202 decided', async () => {
    const valid = hostDown('sms-api', 'sms-api-9', { data: { host_state: 'DOWN', host_state_type: 'HARD' } });
    const body = JSON.stringify(valid);

    for (const [headers, what] of [
      [{}, 'no token'],
      [bearer(`${stack.apiToken}-wrong`), 'a wrong token'],
      [{ Authorization: `Basic ${Buffer.from(`x:${stack.apiToken}`).toString('base64')}` }, 'not a bearer'],
    ] as const) {
      const answer = await post(body, headers);
      assert.equal(answer.status, 401, `${what}: ${answer.text}`);
      assert.equal(errorOf(answer).code, 'LZ_ERR_API_UNAUTHORIZED');
      assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer /);
    }
    refused.push(valid.id);

    const invalid = {
      id: 'not valid!',
      type: 'NagiosHostAlarm',
      time: 'yesterday',
      environment: 'prod',
      service: 'sms-api',
      host: 'sms-api-9',
      colour: 'red',
    };
    const bad = await post(JSON.stringify(invalid), bearer());
    assert.equal(bad.status, 400, bad.text);
    const error = errorOf(bad);
    assert.equal(error.code, 'LZ_ERR_API_BAD_REQUEST');
    assert.equal(error.event_code, 'LZ_ERR_EVENT_INVALID');
    const problems = (error.errors ?? []).map((e) => `${e.path} ${e.message}`);
    for (const expected of [
      /^\/id must match/,
      /^\/time must be an RFC 3339 time/,
      /^ missing required field "source"$/,
      /^ unknown field "colour"$/,
    ])
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${String(expected)} among ${JSON.stringify(problems)}`,
      );
    const notJson = await post('{"id": ', bearer());
    assert.equal(notJson.status, 400, notJson.text);
    assert.equal(errorOf(notJson).event_code, 'LZ_ERR_EVENT_NOT_JSON');

    const big = hostDown('sms-api', 'sms-api-9', { data: { pad: 'x'.repeat(MAX_BYTES) } });
    const tooLarge = await post(JSON.stringify(big), bearer());
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.equal(errorOf(tooLarge).code, 'LZ_ERR_API_TOO_LARGE');
    assert.match(errorOf(tooLarge).message, new RegExp(`the limit is ${MAX_BYTES}`));
    refused.push(big.id);

    // Accepted: the node puts it on the stream, and the region decides it (UP matches no rule).
    // The client claims another token and node in submitted_by: the API writes its own stamp.
    const event = hostDown('sms-api', 'sms-api-9', { data: { host_state: 'UP', host_state_type: 'HARD' } });
    const claimed = { ...event, submitted_by: { via: 'api', token: 'default', node: 'c' } };
    const accepted = await post(JSON.stringify(claimed), bearer(NAGIOS_TOKEN));
    assert.equal(accepted.status, 202, accepted.text);
    assert.deepEqual(accepted.json, { id: event.id });
    const d = await decided(event.id);
    assert.equal(d.decision, 'escalate');
    assert.equal(d.reason, 'no_rule');
    const stamp = { via: 'api', token: 'nagios', node: 'a' };
    assert.deepEqual(d.event, { ...event, submitted_by: stamp }, "the event as posted, with the API's stamp");
    assert.deepEqual(d.submitted_by, stamp, 'the decision names the token that submitted it, and the node');
    assert.match(d.source.shard, /^shardId-/);
    // Whichever node decided it, the trace from any node says who submitted it.
    const posted = await getJson<Trace>(`/v1/events/${encodeURIComponent(event.id)}`, 'b');
    assert.deepEqual(posted.decision.submitted_by, stamp);
    const postedReceived = only(posted, 'received');
    assert.match(postedReceived.title, /; submitted through node a's REST API with token nagios$/);
    assert.deepEqual(postedReceived.detail?.['submitted_by'], stamp);

    // A record put on the stream directly with a stamp in it: the stream's writers are trusted (by
    // IAM), so the trail shows what that producer wrote, as it would the API's own (README,
    // Security). The API is what keeps a client from choosing its stamp.
    const direct = hostDown('sms-api', 'sms-api-9', {
      data: { host_state: 'UP', host_state_type: 'HARD', via: 'direct' },
    });
    const written = { via: 'api', token: 'dashboard', node: 'b' };
    await probe.put({ ...direct, submitted_by: written } as TestEvent);
    const directly = await decided(direct.id);
    assert.equal(directly.reason, 'no_rule', JSON.stringify(directly));
    assert.deepEqual(directly.submitted_by, written);

    const unknown = await call(`/v1/events/${encodeURIComponent('no-such-event')}`);
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).code, 'LZ_ERR_API_NOT_FOUND');
  });

  // ---------------------------------------------------------------------------------------------
  // 7. services and cluster

  test('GET /v1/services and /v1/cluster show the live region', async () => {
    const { services } = await getJson<{ services: ServiceView[] }>('/v1/services');
    assert.deepEqual(
      services.map((s) => s.name),
      ['limited', 'sms-api'],
    );
    const sms = services.find((s) => s.name === 'sms-api')!;
    assert.equal(sms.profile, 'stateless');
    assert.equal(sms.team, 'messaging');
    assert.equal(sms.mode, 'enforce');
    assert.ok(sms.rules.includes('sms-api/nagios_host_down'), sms.rules.join());
    // Every sms-api event so far that was neither stale nor a duplicate is in its window.
    const counted = [...produced.values()].filter(
      (d) => d.service === 'sms-api' && d.reason !== 'stale' && d.decision !== 'duplicate',
    ).length;
    assert.deepEqual(sms.rate_limit, {
      count: counted,
      threshold: 10000,
      window_ms: 600_000,
      limited: false,
    });
    const limited = services.find((s) => s.name === 'limited')!;
    assert.deepEqual(limited.rate_limit, { count: 2, threshold: 1, window_ms: 600_000, limited: true });

    const view = await waitFor('every shard held', async () => {
      const v = await getJson<ClusterView>('/v1/cluster');
      return v.shards.length === SHARDS && v.shards.every((s) => s.holder !== null) ? v : undefined;
    });
    assert.equal(view.self, 'a');
    assert.equal(view.quorum, 2);
    assert.equal(view.nodes_up, 3);
    assert.equal(view.has_quorum, true);
    assert.deepEqual(
      view.nodes.map((n) => [n.id, n.zone, n.state]),
      [
        ['a', 'local-1a', 'up'],
        ['b', 'local-1b', 'up'],
        ['c', 'local-1c', 'up'],
      ],
    );
    for (const n of view.nodes)
      assert.deepEqual(
        [...n.shards].sort(),
        view.shards
          .filter((s) => s.holder === n.id)
          .map((s) => s.id)
          .sort(),
      );
    assert.deepEqual(view.nodes.flatMap((n) => n.shards).sort(), view.shards.map((s) => s.id).sort());
    assert.deepEqual(
      [view.breaker.state, view.breaker.services, view.breaker.threshold, view.breaker.open_now],
      ['closed', 2, BREAKER_THRESHOLD, false],
    );
    assert.equal((await getJson<ClusterView>('/v1/cluster', 'b')).self, 'b');
  });

  // ---------------------------------------------------------------------------------------------
  // 8. nodes stopped and killed, then the breaker: these change the region for what follows

  test('escalate timeout: two peers frozen (SIGSTOP), the one left waits out the vote', async () => {
    const frozen = ['b', 'c'];
    for (const id of frozen) stack.nodes.get(id)!.child.kill('SIGSTOP');
    try {
      // Their shard leases expire (3 s) before a reads their shards.
      const view = await waitFor(
        'node a alone, holding every shard',
        async () => {
          const v = await getJson<ClusterView>('/v1/cluster');
          const up = v.nodes.filter((n) => n.state === 'up').map((n) => n.id);
          return up.join() === 'a' && v.shards.length === SHARDS && v.shards.every((s) => s.holder === 'a')
            ? v
            : undefined;
        },
        20_000,
      );
      assert.equal(view.has_quorum, false);
      stack.fleet.inject({ kind: 'host_down', host: 'sms-api-6' });
      const event = hostDown('sms-api', 'sms-api-6');
      const d = await put(event, 30_000);
      assert.equal(d.reason, 'timeout', `${d.decision}/${d.reason ?? ''} ${JSON.stringify(d.failures)}`);
      assert.equal(d.coordinator.node, 'a');
      assert.deepEqual(
        d.votes.map((v) => [v.node, v.pass]),
        [['a', true]],
      );
      assert.deepEqual(d.failures.map((f) => f.node).sort(), frozen);
      for (const f of d.failures) assert.equal(f.error, `no vote within ${VOTE_TIMEOUT_MS} ms`);
      assert.ok((d.vote_ms ?? 0) >= VOTE_TIMEOUT_MS - 100, `waited ${String(d.vote_ms)} ms`);
      const t = await escalationTrace(event.id, 'timeout', ['stale', 'dedup', 'match', 'gates', 'vote']);
      assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'vote', 'decision']);
      const votes = entries(t, 'vote');
      assert.deepEqual(votes.map((v) => [v.node, v.ok]).sort(), [
        ['a', true],
        ['b', false],
        ['c', false],
      ]);
      for (const v of votes.filter((x) => x.node !== 'a'))
        assert.equal(v.title, `${v.node ?? ''} could not vote: no vote within ${VOTE_TIMEOUT_MS} ms`);
    } finally {
      for (const id of frozen) stack.nodes.get(id)?.child.kill('SIGCONT');
    }
  });

  test('escalate no_quorum: two peers killed (SIGKILL), their votes fail at once', async () => {
    await stack.killNode('b', 'SIGKILL');
    await stack.killNode('c', 'SIGKILL');
    const view = await waitFor(
      'node a alone, holding every shard',
      async () => {
        const v = await getJson<ClusterView>('/v1/cluster');
        const up = v.nodes.filter((n) => n.state === 'up').map((n) => n.id);
        return up.join() === 'a' && v.shards.length === SHARDS && v.shards.every((s) => s.holder === 'a')
          ? v
          : undefined;
      },
      20_000,
    );
    assert.deepEqual(
      view.nodes.map((n) => [n.id, n.state, n.shards.length]),
      [
        ['a', 'up', SHARDS],
        ['b', 'down', 0],
        ['c', 'down', 0],
      ],
    );
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-7' });
    const event = hostDown('sms-api', 'sms-api-7');
    const d = await put(event, 30_000);
    assert.equal(d.reason, 'no_quorum', `${d.decision}/${d.reason ?? ''} ${JSON.stringify(d.failures)}`);
    assert.equal(d.coordinator.node, 'a');
    assert.deepEqual(d.failures.map((f) => f.node).sort(), ['b', 'c']);
    for (const f of d.failures) assert.match(f.error, /UNAVAILABLE/);
    // Two failures rule a quorum out: the decision need not wait for a's own vote, which comes late.
    assert.ok(d.votes.every((v) => v.node === 'a' && v.pass));
    const t = await waitFor(
      "a's vote in the trace",
      async () => {
        const found = await escalationTrace(event.id, 'no_quorum', [
          'stale',
          'dedup',
          'match',
          'gates',
          'vote',
        ]);
        return entries(found, 'vote').some((v) => v.node === 'a') ? found : undefined;
      },
      10_000,
    );
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'vote', 'decision']);
    const votes = entries(t, 'vote');
    assert.deepEqual(votes.map((v) => [v.node, v.ok]).sort(), [
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
    for (const v of votes.filter((x) => x.node !== 'a'))
      assert.match(v.title, new RegExp(`^${v.node ?? ''} could not vote: .*UNAVAILABLE`));
  });

  test('escalate breaker_open: events of two more services open the regional breaker', async () => {
    const closed = await getJson<ClusterView>('/v1/cluster');
    assert.deepEqual([closed.breaker.state, closed.breaker.services], ['closed', 2]);
    const before = await scrape('a');

    // Unknown services count too (before the rule match): 3, then 4 > 3.
    const x1 = await put(hostDown('extra-1', 'x-1'));
    assert.equal(x1.reason, 'no_rule');
    assert.deepEqual([x1.gates?.breaker?.open, x1.gates?.breaker?.services], [false, 3]);
    const x2 = await put(hostDown('extra-2', 'x-2'));
    assert.equal(x2.reason, 'no_rule', 'no rule is looked for before the gates');
    assert.deepEqual([x2.gates?.breaker?.open, x2.gates?.breaker?.services], [true, 4]);

    const event = hostDown('sms-api', 'sms-api-10');
    const d = await put(event);
    assert.equal(d.reason, 'breaker_open', `${d.decision}/${d.reason ?? ''}`);
    assert.equal(d.votes.length, 0, 'no vote while the breaker is open');
    const t = await escalationTrace(event.id, 'breaker_open', ['stale', 'dedup', 'match', 'gates']);
    assertOrder(t, ['received', 'parsed', 'stale', 'dedup', 'match', 'gates', 'decision']);
    const gates = only(t, 'gates');
    assert.equal(gates.ok, false);
    assert.match(gates.title, /breaker OPEN \(4\/3 services failing in 10m\)$/);

    const open = await getJson<ClusterView>('/v1/cluster');
    assert.deepEqual([open.breaker.state, open.breaker.open_now, open.breaker.services], ['open', true, 4]);
    const change = open.breaker.history[0];
    assert.equal(change?.state, 'open');
    assert.deepEqual([...change.services].sort(), ['extra-1', 'extra-2', 'limited', 'sms-api']);
    const after = await scrape('a');
    assert.equal(after.value('lazarus_breaker_open'), 1);
    assert.equal(
      after.value('lazarus_decisions_total', { outcome: 'escalate', reason: 'breaker_open' }) -
        before.value('lazarus_decisions_total', { outcome: 'escalate', reason: 'breaker_open' }),
      1,
    );
  });

  // ---------------------------------------------------------------------------------------------
  // 9. the list over everything above

  /** Every page of a listing, following `next` until there is none. */
  async function listAll(query: Record<string, string>, limit: number): Promise<EventSummary[]> {
    const items: EventSummary[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 200, 'the pages end');
      const params = new URLSearchParams({
        ...query,
        limit: String(limit),
        ...(cursor === undefined ? {} : { cursor }),
      });
      const page = await getJson<EventPage>(`/v1/events?${params.toString()}`);
      assert.ok(page.items.length <= limit, `at most ${limit} items`);
      items.push(...page.items);
      if (page.next === undefined) return items;
      cursor = page.next;
    }
  }

  /** The listing has exactly the produced events that `keep` takes, once each, newest first. */
  async function assertListing(
    query: Record<string, string>,
    keep: (d: DecisionRecord) => boolean,
    limit = 2,
  ): Promise<EventSummary[]> {
    const items = await listAll(query, limit);
    const ids = items.map((i) => i.id);
    const what = `GET /v1/events?${new URLSearchParams(query).toString()}`;
    assert.equal(new Set(ids).size, ids.length, `${what}: no event twice: ${ids.join()}`);
    const expected = [...produced.values()].filter(keep).map((d) => d.event_id);
    assert.ok(expected.length > 0, `${what}: the case expects something`);
    assert.deepEqual([...ids].sort(), [...expected].sort(), what);
    for (let i = 1; i < items.length; i++)
      assert.ok(
        Date.parse(items[i - 1]!.decided_at) >= Date.parse(items[i]!.decided_at),
        `${what}: newest first`,
      );
    return items;
  }

  test('GET /v1/events: filters and pages over what the region decided', async () => {
    assert.ok(produced.size >= 15, `${produced.size} events decided`);
    // Everything, three a page: the union of the pages is what was produced.
    const all = await assertListing({}, () => true, 3);
    for (const item of all) {
      const d = produced.get(item.id)!;
      assert.deepEqual(
        [item.decision, item.reason, item.service, item.host, item.coordinator, item.rule, item.duplicate_of],
        [d.decision, d.reason, d.service, d.host, d.coordinator.node, d.rule?.id, d.duplicate_of],
        item.id,
      );
      assert.equal(item.decided_at, d.decided_at);
    }
    assert.equal(all.find((i) => i.id === act?.event.id)?.run, 'succeeded');
    const first = await getJson<EventPage>('/v1/events?limit=1');
    assert.equal(first.items.length, 1);
    assert.ok(first.next !== undefined, 'more than one page');

    await assertListing({ service: 'limited' }, (d) => d.service === 'limited', 1);
    await assertListing(
      { service: 'sms-api', status: 'escalate' },
      (d) => d.service === 'sms-api' && d.decision === 'escalate',
    );
    await assertListing({ host: 'sms-api-3' }, (d) => d.host === 'sms-api-3');
    await assertListing({ host: 'sms-api-4', service: 'sms-api' }, (d) => d.host === 'sms-api-4');
    await assertListing({ status: 'act' }, (d) => d.decision === 'act');
    await assertListing({ status: 'duplicate' }, (d) => d.decision === 'duplicate');
    const reasons = new Set(
      [...produced.values()].flatMap((d) => (d.reason === undefined ? [] : [d.reason])),
    );
    assert.deepEqual(
      [...reasons].sort(),
      [
        'breaker_open',
        'checks_failed',
        'dependency_down',
        'lock_held',
        'no_quorum',
        'no_rule',
        'rate_limited',
        'stale',
        'timeout',
      ],
      'every escalation reason was produced',
    );
    for (const reason of reasons) await assertListing({ reason }, (d) => d.reason === reason);
    await assertListing(
      { status: 'escalate', reason: 'no_rule', service: 'extra-2' },
      (d) => d.service === 'extra-2',
    );

    // A time window, one end as RFC 3339, the other as epoch ms.
    const times = [...produced.values()].map((d) => Date.parse(d.decided_at)).sort((x, y) => x - y);
    const since = times[3]!;
    const until = times[times.length - 4]!;
    const inside = (d: DecisionRecord): boolean =>
      Date.parse(d.decided_at) >= since && Date.parse(d.decided_at) <= until;
    await assertListing({ since: new Date(since).toISOString(), until: String(until) }, inside);
    await assertListing(
      { since: String(since), until: new Date(until).toISOString(), status: 'escalate' },
      (d) => inside(d) && d.decision === 'escalate',
    );

    // Records that were not events: their own status, with the parse error as the reason.
    assert.ok(rejectedId !== undefined, 'the rejected case ran');
    const rejected = await listAll({ status: 'rejected' }, 1);
    assert.deepEqual(
      rejected.map((r) => [r.id, r.decision, r.reason]),
      [[rejectedId, 'rejected', 'LZ_ERR_EVENT_NOT_JSON']],
    );
    assert.deepEqual(
      (await listAll({ status: 'rejected', reason: 'LZ_ERR_EVENT_NOT_JSON' }, 5)).map((r) => r.id),
      [rejectedId],
    );
    assert.deepEqual(await listAll({ status: 'rejected', reason: 'LZ_ERR_EVENT_INVALID' }, 5), []);

    // What the API refused never reached the stream.
    for (const id of refused) {
      assert.equal((await call(`/v1/events/${encodeURIComponent(id)}`)).status, 404, id);
      assert.ok(!all.some((i) => i.id === id));
    }

    // A bad query: 400, every problem named.
    const bad = await call('/v1/events?limit=0&status=bogus&colour=red&since=yesterday&reason=nope');
    assert.equal(bad.status, 400, bad.text);
    assert.equal(errorOf(bad).code, 'LZ_ERR_API_BAD_REQUEST');
    assert.deepEqual((errorOf(bad).errors ?? []).map((e) => e.path).sort(), [
      'colour',
      'limit',
      'reason',
      'since',
      'status',
    ]);
    const badCursor = await call('/v1/events?cursor=not-a-cursor');
    assert.equal(badCursor.status, 400, badCursor.text);
    assert.deepEqual(
      (errorOf(badCursor).errors ?? []).map((e) => e.path),
      ['cursor'],
    );
  });
});
