/**
 * The trace as one story: the timeline built from a decision record, its audit entries and its run
 * has the stages that apply to each kind of decision, in order, in words an operator reads.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { AuditEntry } from '../../../src/audit/log.js';
import { buildTimeline } from '../../../src/audit/timeline.js';
import type { TimelineEntry } from '../../../src/audit/timeline.js';
import type { DecisionRecord } from '../../../src/records/decision.js';
import type { RunState } from '../../../src/workflow/types.js';
import { decisionRecord } from '../api/fixtures.js';

const T = Date.parse('2026-11-22T03:00:00Z');

function stages(timeline: readonly TimelineEntry[]): string[] {
  return timeline.map((e) => e.stage);
}

function run(d: DecisionRecord, status: 'succeeded' | 'failed'): RunState {
  const start = T + 100;
  const at = (ms: number): string => new Date(start + ms).toISOString();
  return {
    id: `run-${d.event_id}`,
    workflow: 'default.replace_host',
    status,
    event: { ...d.event },
    rule: { id: 'sms-api/nagios_host_down', name: 'nagios_host_down', inputs: {} },
    params: {},
    region: { name: 'local-1', orchestrator_url: '' },
    started_at: at(0),
    deadline_at: at(1_800_000),
    finished_at: at(500),
    ...(status === 'failed'
      ? { failure: { step: 'boot', message: 'orchestrator answered 500', reason: 'step_failed' as const } }
      : {}),
    nodes: ['a'],
    steps: {
      boot: {
        id: 'boot',
        phase: 'main',
        status: status === 'failed' ? 'failed' : 'succeeded',
        attempts: status === 'failed' ? 3 : 1,
        started_at: at(10),
        finished_at: at(300),
        duration_ms: 290,
        ...(status === 'failed' ? { error: 'orchestrator answered 500' } : {}),
      },
      verify: { id: 'verify', phase: 'main', status: 'pending', attempts: 0 },
    },
  };
}

describe('buildTimeline', () => {
  test('an act: every stage from the stream to the last workflow step, in order', () => {
    const d: DecisionRecord = {
      ...decisionRecord({ id: 'e1', decidedAt: T }),
      page: {
        action: 'acknowledge',
        ok: true,
        incident_key: 'PD-1',
        incident_id: 'P1',
        latency_ms: 180,
        attempts: 2,
        at: new Date(T - 5).toISOString(),
      },
    };
    const audit: AuditEntry[] = [
      {
        at: new Date(T + 400).toISOString(),
        node: 'b',
        kind: 'notify',
        action: 'remediation_started',
        ok: true,
        detail: { channels: ['slack:#sms-oncall'] },
      },
      {
        at: new Date(T + 2).toISOString(),
        node: 'a',
        kind: 'page',
        action: 'acknowledge',
        ok: true,
        latency_ms: 30,
      },
    ];
    const t = buildTimeline(d, run(d, 'succeeded'), audit);
    assert.deepEqual(stages(t), [
      'received',
      'parsed',
      'stale',
      'dedup',
      'match',
      'gates',
      'vote',
      'vote',
      'vote',
      'lock',
      'page',
      'decision',
      'workflow',
      'step',
      'notify', // T+400
      'workflow', // finished T+500
    ]);
    const byStage = (s: string): TimelineEntry[] => t.filter((e) => e.stage === s);
    assert.match(byStage('received')[0]?.title ?? '', /shardId-000000000001 .* by node a \(local-1a\)/);
    assert.match(
      byStage('match')[0]?.title ?? '',
      /rule sms-api\/nagios_host_down matches .* workflow default\.replace_host/,
    );
    assert.match(
      byStage('gates')[0]?.title ?? '',
      /^rate 1\/10 in 10m; breaker closed \(1\/10 services failing in 10m\)$/,
    );
    assert.deepEqual(
      byStage('vote').map((v) => [v.node, v.ok]),
      [
        ['a', true],
        ['b', true],
        ['c', true],
      ],
    );
    assert.match(
      byStage('page')[0]?.title ?? '',
      /acknowledge incident P1: done 180ms after the event, 2 attempts/,
    );
    assert.match(byStage('decision')[0]?.title ?? '', /^act: 3 of 3 votes pass \(2 needed\)$/);
    assert.equal(byStage('step').length, 1, 'a step that never started is not on the timeline');
    assert.equal(byStage('workflow')[1]?.ok, true);
    assert.match(byStage('notify')[0]?.title ?? '', /"remediation_started" handed to slack:#sms-oncall/);
  });

  test('a failed run: the step with its attempts and error, the run failing at it', () => {
    const d = decisionRecord({ id: 'e2', decidedAt: T });
    const t = buildTimeline(d, run(d, 'failed'), []);
    const step = t.find((e) => e.stage === 'step');
    assert.equal(step?.ok, false);
    assert.match(step?.title ?? '', /^boot: failed after 3 attempts — orchestrator answered 500$/);
    assert.match(t.at(-1)?.title ?? '', /failed at boot: orchestrator answered 500/);
  });

  test('each escalation stops at the stage that escalated it, and says why in words', () => {
    const stale = buildTimeline(decisionRecord({ id: 's', decidedAt: T, reason: 'stale' }), undefined, []);
    assert.deepEqual(stages(stale), ['received', 'parsed', 'stale', 'decision']);
    assert.equal(stale[2]?.ok, false);

    const noRule = buildTimeline(decisionRecord({ id: 'n', decidedAt: T, reason: 'no_rule' }), undefined, []);
    assert.deepEqual(stages(noRule), ['received', 'parsed', 'stale', 'dedup', 'match', 'decision']);
    assert.equal(noRule[4]?.ok, false);

    const rate = buildTimeline(
      decisionRecord({ id: 'r', decidedAt: T, reason: 'rate_limited' }),
      undefined,
      [],
    );
    assert.equal(rate.find((e) => e.stage === 'gates')?.ok, false);
    assert.match(rate.at(-1)?.title ?? '', /^escalate \(rate_limited\): the service has had more events/);

    const lock = buildTimeline(decisionRecord({ id: 'l', decidedAt: T, reason: 'lock_held' }), undefined, []);
    const held = lock.find((e) => e.stage === 'lock');
    assert.equal(held?.ok, false);
    assert.match(held?.title ?? '', /lock host:sms-api\/sms-api-1 is held by event:l/);

    const dup = buildTimeline(
      decisionRecord({ id: 'd', decidedAt: T, decision: 'duplicate' }),
      undefined,
      [],
    );
    assert.deepEqual(stages(dup).slice(-2), ['dedup', 'decision']);
    assert.match(dup.at(-2)?.title ?? '', /folded into event d-first/);
  });

  test('an escalation made after the decision is on the timeline with its latency', () => {
    const d: DecisionRecord = {
      ...decisionRecord({ id: 'c', decidedAt: T, reason: 'checks_failed' }),
      page: {
        action: 'escalate',
        ok: false,
        incident_key: 'PD-9',
        latency_ms: 51_000,
        attempts: 0,
        at: new Date(T + 10).toISOString(),
        error: 'LZ_ERR_PAGER_UNAVAILABLE: budget spent',
      },
    };
    const audit: AuditEntry[] = [
      {
        at: new Date(T + 10).toISOString(),
        node: 'a',
        kind: 'page',
        action: 'escalate',
        ok: false,
        error: 'budget spent',
        detail: { attempts: 0 },
      },
    ];
    const t = buildTimeline(d, undefined, audit);
    assert.equal(t.at(-2)?.stage, 'decision');
    assert.match(t.at(-1)?.title ?? '', /^escalate: failed \(budget spent\), 0 attempt\(s\)$/);
  });

  test("a page call the request budget could not answer reads as left to PagerDuty's timer; a skipped note says why", () => {
    const d = decisionRecord({ id: 'b1', decidedAt: T, reason: 'breaker_open' });
    const t = buildTimeline(d, undefined, [
      {
        at: new Date(T + 10).toISOString(),
        node: 'b',
        kind: 'page',
        action: 'escalate',
        ok: false,
        error: "the region's PagerDuty request budget (960/min) had no room",
        detail: { attempts: 0, code: 'LZ_ERR_PAGER_OVER_BUDGET', left_to_timer: true },
      },
      {
        at: new Date(T + 20).toISOString(),
        node: 'b',
        kind: 'page',
        action: 'note_skipped',
        ok: true,
        detail: { why: 'the page has the breaker summary note of this opening already' },
      },
    ]);
    assert.deepEqual(
      t.filter((e) => e.stage === 'page').map((e) => [e.ok, e.title]),
      [
        [
          false,
          "escalate left to PagerDuty's timer: not sent, the region's request budget had no room in time",
        ],
        [true, 'no note: the page has the breaker summary note of this opening already'],
      ],
    );
  });

  test("a notification's delivery: the channel, how it ended, after how many attempts", () => {
    const d = decisionRecord({ id: 'n1', decidedAt: T, reason: 'checks_failed' });
    const at = new Date(T + 50).toISOString();
    const t = buildTimeline(d, undefined, [
      {
        at,
        node: 'a',
        kind: 'notify',
        action: 'delivery',
        ok: false,
        error: 'no answer within 15000 ms',
        detail: { channel: 'slack:#sms-oncall', status: 'failed', attempts: 5 },
      },
      {
        at,
        node: 'a',
        kind: 'notify',
        action: 'delivery',
        ok: true,
        detail: { channel: 'email:x@y', status: 'delivered', attempts: 1 },
      },
    ]);
    assert.deepEqual(
      t.filter((e) => e.stage === 'notify').map((e) => [e.ok, e.title]),
      [
        [false, 'slack:#sms-oncall: failed after 5 attempts (no answer within 15000 ms)'],
        [true, 'email:x@y: delivered'],
      ],
    );
  });

  test("who submitted it: through which node's API with which token, or straight to the stream", () => {
    const base = decisionRecord({ id: 'who', decidedAt: T });
    const received = (d: DecisionRecord): TimelineEntry | undefined =>
      buildTimeline(d, undefined, []).find((e) => e.stage === 'received');
    const api = received({ ...base, submitted_by: { via: 'api', token: 'nagios', node: 'b' } });
    assert.match(
      api?.title ?? '',
      /^read from shardId-\S+ at sequence \d+ by node a \(local-1a\); submitted through node b's REST API with token nagios$/,
    );
    assert.deepEqual(api?.detail?.['submitted_by'], { via: 'api', token: 'nagios', node: 'b' });
    const stream = received({ ...base, submitted_by: { via: 'stream' } });
    assert.match(stream?.title ?? '', /; submitted directly to the stream, not through the REST API$/);
    // A record of a release that did not keep it: nothing is claimed either way.
    const older = received(base);
    assert.match(older?.title ?? '', /by node a \(local-1a\)$/);
    assert.equal(older?.detail?.['submitted_by'], undefined);
  });
});
