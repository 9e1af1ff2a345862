import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  acknowledgedMessage,
  escalatedMessage,
  evidenceNote,
  reasonInWords,
  remediationStartedMessage,
  resolvedMessage,
  wouldHaveMessage,
  type Evidence,
  type EventSummary,
} from '../../../src/notify/messages.js';

const event: EventSummary = {
  service: 'sms-api',
  host: 'sms-api-3',
  eventType: 'host_down',
  eventId: 'evt-42',
  incidentKey: 'nagios/sms-api-3/host_down',
};

const check = (name: string, pass: boolean, measured: string, threshold: string, detail = '') => ({
  name,
  pass,
  measured,
  threshold,
  detail,
});

const failedChecks: Evidence = {
  quorum: 2,
  votes: [
    {
      node: 'node-a',
      zone: 'local-1a',
      pass: false,
      checks: [
        check('HealthCheckDown', true, '503 from local-1a', 'not 2xx, or no answer'),
        check('MinActiveHosts', false, 'healthy_others=2', '>= 4', 'too few healthy hosts would remain'),
      ],
    },
    {
      node: 'node-b',
      zone: 'local-1b',
      pass: false,
      checks: [
        check('MinActiveHosts', false, 'healthy_others=2', '>= 4', 'too few healthy hosts would remain'),
      ],
    },
    {
      node: 'node-c',
      zone: 'local-1c',
      pass: true,
      checks: [check('MinActiveHosts', true, 'healthy_others=5', '>= 4')],
    },
  ],
  failures: [],
};

describe('notification messages', () => {
  test('escalated: the reason in words, the failed checks with their nodes, the votes', () => {
    const text = escalatedMessage(event, { reason: 'checks_failed', evidence: failedChecks });
    const [first, ...rest] = text.split('\n');
    assert.equal(first, 'Escalated to on-call: Lazarus did not fix sms-api-3 (sms-api): host down');
    assert.match(
      text,
      /Why: the safety checks before acting failed: acting now could make things worse \(checks_failed\)\./,
    );
    assert.match(
      text,
      /Failed checks:\n {2}- MinActiveHosts: measured healthy_others=2, needs >= 4 \(too few healthy hosts would remain\) \[on node-a \(local-1a\), node-b \(local-1b\)\]/,
    );
    assert.doesNotMatch(text, /HealthCheckDown/, 'passing checks are not listed as failures');
    assert.match(text, /1 of 3 controller nodes found it safe to act \(2 needed\)\./);
    assert.match(text, /Someone needs to look at this now\./);
    assert.equal(rest.at(-1), 'Event evt-42 · incident key nagios/sms-api-3/host_down');
  });

  test('escalated after a failed workflow names the step and its error', () => {
    const text = escalatedMessage(event, {
      reason: 'workflow_failed',
      evidence: {
        workflow: 'replace-host',
        failedStep: 'boot-replacement',
        error: 'orchestrator answered 500',
      },
    });
    assert.match(text, /Why: the automatic remediation was tried and failed/);
    assert.match(
      text,
      /The remediation "replace-host" failed at step "boot-replacement": orchestrator answered 500\./,
    );
    assert.match(text, /part-way/);
  });

  test('escalated for an unreachable dependency, and unknown reasons still read as words', () => {
    const text = escalatedMessage(event, {
      reason: 'dependency_down',
      evidence: { error: 'redis: connection refused' },
    });
    assert.match(text, /could not be reached/);
    assert.match(text, /Error: redis: connection refused\./);
    assert.equal(reasonInWords('brand_new_reason'), 'brand new reason');
    assert.equal(reasonInWords('stale', 'custom words'), 'custom words');
  });

  test('acknowledged, started and resolved say whether anyone has to act', () => {
    const passed: Evidence = { quorum: 2, votes: failedChecks.votes!.map((v) => ({ ...v, pass: true })) };
    const ack = acknowledgedMessage(event, { workflow: 'replace-host', evidence: passed });
    assert.match(ack, /^Lazarus acknowledged the page for sms-api-3 \(sms-api\): host down\n/);
    assert.match(
      ack,
      /3 of 3 controller nodes found it safe to act \(2 needed\)\. It is starting the remediation "replace-host"\./,
    );
    assert.match(ack, /Nobody needs to act now/);

    const started = remediationStartedMessage(event, {
      workflow: 'replace-host',
      steps: ['lb-remove', 'clone', 'lb-add'],
    });
    assert.match(started, /Steps:\n {2}1\. lb-remove\n {2}2\. clone\n {2}3\. lb-add/);

    const resolved = resolvedMessage(event, { workflow: 'replace-host', durationMs: 95_000 });
    assert.match(resolved, /^Resolved: Lazarus remediated sms-api-3 \(sms-api\): host down in 1m35s\n/);
    assert.match(resolved, /Nobody needs to act\./);
  });

  test('would-have (notify_only): the planned steps, and that nothing was done', () => {
    const text = wouldHaveMessage(event, {
      workflow: 'replace-host',
      steps: ['lb-remove (orchestrator.lb_remove)', 'clone (orchestrator.clone)'],
      evidence: { quorum: 2, votes: failedChecks.votes!.map((v) => ({ ...v, pass: true })) },
    });
    assert.match(text, /^\[notify_only\] Lazarus would have remediated sms-api-3 \(sms-api\): host down\n/);
    assert.match(
      text,
      /would have acknowledged the page and run "replace-host":\n {2}1\. lb-remove \(orchestrator\.lb_remove\)\n {2}2\. clone/,
    );
    assert.match(text, /Nothing was done: the service is in notify_only mode/);

    const escalation = wouldHaveMessage(event, {
      workflow: 'replace-host',
      steps: [],
      reason: 'checks_failed',
      evidence: failedChecks,
    });
    assert.match(escalation, /would have escalated/);
    assert.match(escalation, /MinActiveHosts/);
  });

  test('the evidence note lists every vote and check', () => {
    const note = evidenceNote(event, {
      decision: 'escalate',
      reason: 'checks_failed',
      evidence: { ...failedChecks, failures: [{ node: 'node-d', error: 'deadline exceeded' }] },
    });
    assert.match(
      note,
      /^Assisted diagnosis by Lazarus for sms-api-3 \(sms-api\): host down: decision escalate \(checks_failed: /,
    );
    assert.match(
      note,
      /node-a \(local-1a\) voted fail:\n {2}ok {3}HealthCheckDown: measured 503 from local-1a/,
    );
    assert.match(note, / {2}FAIL MinActiveHosts: measured healthy_others=2, needs >= 4/);
    assert.match(note, /node-d could not vote: deadline exceeded/);
  });
});
