/**
 * The safety gates through the three-node cluster, against a real redis-server: the rate limit and
 * the circuit breaker hold over the whole cluster, duplicates fold, a lock allows one remediation
 * per host, stale events are dropped, and with Redis frozen nothing acts.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import type { TestEvent } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

async function startStack(
  options: Parameters<typeof LocalStack.start>[0],
): Promise<{ stack: LocalStack; probe: ClusterProbe }> {
  const stack = await LocalStack.start(options);
  return { stack, probe: new ClusterProbe(stack) };
}

async function stopStack(s: { stack: LocalStack; probe: ClusterProbe } | undefined): Promise<void> {
  if (s === undefined) return;
  await s.probe.close();
  await s.stack.stop();
  if (process.env['KEEP_STACK'] === undefined) await s.stack.remove();
  else console.log(`kept ${s.stack.workDir}`);
}

async function decisions(
  probe: ClusterProbe,
  events: readonly TestEvent[],
  timeoutMs = 90_000,
): Promise<DecisionRecord[]> {
  return waitFor(
    `${events.length} decisions`,
    async () => {
      const values = await probe.redis.mget(...events.map((e) => probe.keys.decision(e.id)));
      return values.every((v) => v !== null)
        ? values.map((v) => JSON.parse(v ?? '') as DecisionRecord)
        : undefined;
    },
    timeoutMs,
    250,
  );
}

describe('rate limit over the cluster', { timeout: 180_000 }, () => {
  let s: { stack: LocalStack; probe: ClusterProbe } | undefined;
  before(async () => {
    s = await startStack({
      fleet: { services: { storm: 1005 } },
      services:
        'services:\n  storm:\n    profile: stateless\n    parameters: { rate_limit_threshold: 5, rate_limit_window: 10m, max_active_hosts: 2000 }\n',
    });
  });
  after(() => stopStack(s));

  // The window (10 min) cannot slide during the storm however slow the machine is, so the counts are
  // exact; the window sliding past a storm is tested on an injected clock (pipeline-gates.test.ts).
  test('1,000 events for one service in 10 s, threshold 5: at most 5 act, every later one rate_limited', async () => {
    const { stack, probe } = s!;
    // A thousand distinct hosts really down (five stay healthy): the first events through the gate act.
    for (let h = 1; h <= 1000; h++) stack.fleet.inject({ kind: 'host_down', host: `storm-${h}` });
    const events = Array.from({ length: 1000 }, (_, i) => hostDown('storm', `storm-${i + 1}`));
    const started = Date.now();
    for (let i = 0; i < events.length; i += 100) {
      await probe.putMany(events.slice(i, i + 100));
      await new Promise((r) => setTimeout(r, Math.max(0, started + (i / 100 + 1) * 1000 - Date.now())));
    }
    const all = await decisions(probe, events);
    const acted = all.filter((d) => d.decision === 'act');
    assert.ok(acted.length <= 5, `${acted.length} acted`);
    assert.ok(acted.length >= 1, 'the first events through the gate act');
    for (const d of all) {
      const count = d.gates?.rate?.count ?? 0;
      if (count > 5)
        assert.equal(
          d.reason,
          'rate_limited',
          `${d.event_id} (count ${count}) was ${d.decision}/${d.reason ?? ''}`,
        );
      else assert.notEqual(d.reason, 'rate_limited');
    }
    // On a loaded machine a Redis call can time out (500 ms): that event escalates dependency_down
    // before the gates (fail safe) and has no count. Every counted one has its own count.
    for (const d of all.filter((x) => x.gates?.rate === undefined))
      assert.equal(
        d.reason,
        'dependency_down',
        `${d.event_id}: ${d.decision}/${d.reason ?? ''} without gates`,
      );
    // Such an event may still have been counted (a timed-out call may have been carried out), so it
    // can take one of the five places: never more than five, and none lost but to those.
    const failedSafe = all.filter((x) => x.gates?.rate === undefined).length;
    const within = all.filter((d) => d.gates?.rate !== undefined && d.gates.rate.count <= 5).length;
    assert.ok(
      within <= 5 && within >= 5 - failedSafe,
      `${within} counted within the threshold, ${failedSafe} failed safe`,
    );
  });
});

describe('regional circuit breaker', { timeout: 120_000 }, () => {
  let s: { stack: LocalStack; probe: ClusterProbe } | undefined;
  const names = Array.from({ length: 40 }, (_, i) => `svc-${String(i + 1).padStart(2, '0')}`);
  before(async () => {
    s = await startStack({
      fleet: { services: Object.fromEntries(names.map((n) => [n, 4])) },
      services: 'services:\n' + names.map((n) => `  ${n}:\n    profile: stateless\n`).join(''),
      region: { thresholds: { breaker_threshold: 10, breaker_window: '10m' } },
    });
  });
  after(() => stopStack(s));

  // As above: a window the storm cannot outlast; the breaker closing is tested on an injected clock.
  test('40 services failing within a minute, threshold 10: opens, nothing acts after, every later event breaker_open', async () => {
    const { stack, probe } = s!;
    for (const n of names) stack.fleet.inject({ kind: 'host_down', host: `${n}-1` });
    const events = names.map((n) => hostDown(n, `${n}-1`));
    for (const e of events) await probe.put(e);
    const all = await decisions(probe, events);
    const history = (await probe.redis.lrange(probe.keys.breakerHistory, 0, -1)).map(
      (t) => JSON.parse(t) as { state: string; at: number; services: string[] },
    );
    const opened = history.find((h) => h.state === 'open');
    assert.ok(opened, 'the opening is recorded');
    assert.ok(opened.services.length > 10, 'with the services that tripped it');
    for (const d of all) {
      const counted = d.gates?.breaker?.services ?? 0;
      assert.equal(
        d.reason === 'breaker_open',
        counted > 10,
        `${d.event_id}: ${counted} services, ${d.reason}`,
      );
      if (d.decision === 'act')
        assert.ok(counted <= 10, `${d.event_id} acted with the breaker at ${counted}`);
    }
    // As in the rate test, an event whose Redis call timed out under load escalates dependency_down
    // without gates, and may or may not have been counted.
    const failedSafe = all.filter((d) => d.gates?.breaker === undefined);
    for (const d of failedSafe) assert.equal(d.reason, 'dependency_down', `${d.event_id} without gates`);
    const open = all.filter((d) => d.reason === 'breaker_open').length;
    assert.ok(open <= 30 && open >= 30 - failedSafe.length, `${open} breaker_open: services 11 to 40`);
  });

  // Still open (the window is 10 minutes): a storm of events on two pages.
  test('while it is open, a page gets one summary note for the opening, however many events are about it', async () => {
    const { stack, probe } = s!;
    const keys = ['storm-A', 'storm-B'];
    const events = names
      .slice(0, 8)
      .map((n, i) => hostDown(n, `${n}-2`, { incident_key: keys[i % 2] ?? '' }));
    probe.page(events[0]!);
    probe.page(events[1]!);
    for (const e of events) await probe.put(e);
    const all = await decisions(probe, events);
    const opened = all.map((d) => d.gates?.breaker?.opened_at);
    for (const d of all) assert.equal(d.reason, 'breaker_open', d.event_id);
    assert.equal(new Set(opened).size, 1, `one opening: ${opened.join(', ')}`);
    assert.ok(opened[0] !== undefined && Date.parse(opened[0]) > 0);
    // Every event's responder is done when its trail says what became of the note.
    await waitFor('every event to have noted its page or skipped the note', async () => {
      const trails = await Promise.all(
        all.map((d) => probe.redis.lrange(probe.keys.audit(d.event_id), 0, -1)),
      );
      const done = trails.every((t) =>
        t.some((x) => /"action":"(note|note_skipped)"/.test(x) && x.includes('"kind":"page"')),
      );
      return done ? true : undefined;
    });
    for (const key of keys) {
      const incident = stack.pagerduty.incidents().find((i) => i.incident_key === key);
      const notes = incident?.notes.filter((n) => n.content.includes('circuit breaker is open')) ?? [];
      assert.equal(notes.length, 1, `${key}: ${JSON.stringify(incident?.notes.map((n) => n.content))}`);
      assert.match(notes[0]?.content ?? '', /written once per page for this opening/);
      // No per-event evidence note besides it.
      assert.equal(incident?.notes.length, 1, key);
    }
  });
});

describe('one remediation per thing', { timeout: 120_000 }, () => {
  let s: { stack: LocalStack; probe: ClusterProbe } | undefined;
  before(async () => {
    s = await startStack({});
  });
  after(() => stopStack(s));

  test('5 events for one host within a second, read by different nodes: one act, four duplicates or lock_held', async () => {
    const { stack, probe } = s!;
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-3' });
    const events = Array.from({ length: 5 }, () => hostDown('sms-api', 'sms-api-3'));
    // Different partition keys put them on different shards, so different nodes read them.
    const shards = await Promise.all(events.map((e, i) => probe.put(e, `spread-${i * 7}`)));
    assert.ok(new Set(shards.map((x) => x.shard)).size >= 2);
    const all = await decisions(probe, events);
    assert.equal(
      all.filter((d) => d.decision === 'act').length,
      1,
      JSON.stringify(all.map((d) => [d.decision, d.reason])),
    );
    for (const d of all.filter((x) => x.decision !== 'act'))
      // Folded, or kept off the host by the remediation in progress (its lock, or the host already out
      // of the load balancer), or by its record once it ended: never a second act.
      assert.ok(
        d.decision === 'duplicate' ||
          d.reason === 'lock_held' ||
          d.reason === 'recently_remediated' ||
          (d.reason === 'checks_failed' &&
            d.votes.some((v) => v.checks.some((c) => c.name === 'HostActive' && !c.pass))),
        `${d.decision}/${d.reason ?? ''}`,
      );
    const first = all.find((d) => d.decision === 'act');
    for (const d of all.filter((x) => x.decision === 'duplicate'))
      assert.equal(d.duplicate_of, first?.event_id);
  });

  test('the same event id put three times: one decision', async () => {
    const { probe } = s!;
    const event = hostDown('sms-api', 'sms-api-5', { data: { host_state: 'UP', host_state_type: 'HARD' } });
    for (let i = 0; i < 3; i++) await probe.put(event, `again-${i}`);
    await probe.waitDecision(event.id);
    // Until both redeliveries were read (and answered `already decided`), not for a while.
    await waitFor(
      'both redeliveries to be read',
      async () => ((await logLines(s!.stack, event.id, 'already decided')) >= 2 ? true : undefined),
      30_000,
    );
    const { readFile } = await import('node:fs/promises');
    let lines = 0;
    for (const node of ['a', 'b', 'c']) {
      const text = await readFile(`${s!.stack.workDir}/logs/node-${node}.log`, 'utf8');
      lines += text
        .split('\n')
        .filter((l) => l.includes(`"event":"${event.id}"`) && l.includes('"decision"')).length;
    }
    assert.equal(lines, 1);
    assert.equal((await probe.redis.zscore(probe.keys.decisions, event.id)) !== null, true);
  });

  test('a stale event: recorded stale, no votes, no action', async () => {
    const { stack, probe } = s!;
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-4' });
    const event = hostDown('sms-api', 'sms-api-4', {
      time: new Date(Date.now() - 10 * 60_000).toISOString(),
    });
    await probe.put(event);
    const d = await probe.waitDecision(event.id);
    assert.deepEqual([d.decision, d.reason], ['escalate', 'stale']);
    assert.equal(d.votes.length, 0);
    assert.ok((d.age_ms ?? 0) >= 10 * 60_000 - 5000);
  });
});

describe('Redis frozen while events flow', { timeout: 120_000 }, () => {
  let s: { stack: LocalStack; probe: ClusterProbe } | undefined;
  before(async () => {
    // Leases long enough not to lapse while Redis is frozen, so that each node keeps its shards.
    s = await startStack({ region: { kinesis: { lease_ttl: '30s' } } });
  });
  after(() => stopStack(s));

  test('nothing acts while Redis is down: what is read meanwhile escalates dependency_down, recorded once it is back; processing resumes', async () => {
    const { stack, probe } = s!;
    const hosts = ['voice-gateway-1', 'voice-gateway-3', 'sms-api-5'];
    for (const host of hosts) stack.fleet.inject({ kind: 'host_down', host });
    // Every one of these would act if Redis were there.
    const during = hosts.map((host) => hostDown(host.replace(/-\d+$/, ''), host));
    stack.freezeRedis();
    let thawedAt = 0;
    try {
      for (const e of during) await probe.put(e);
      // Until a reader has met one of them while Redis is away (it escalates at once).
      await waitFor(
        'a reader to escalate one of them dependency_down',
        async () => {
          for (const e of during)
            if ((await logLines(stack, e.id, 'escalate: dependency_down')) > 0) return true;
          return undefined;
        },
        60_000,
      );
    } finally {
      stack.thawRedis();
      thawedAt = Date.now();
    }
    const all = await decisions(probe, during, 60_000);
    // The first event a reader meets while Redis is down escalates; its shard waits for Redis to
    // record it. Later records of that shard are read once Redis is back, and decided on their merits.
    const down = all.filter((d) => d.reason === 'dependency_down');
    assert.ok(down.length >= 1, JSON.stringify(all.map((d) => [d.decision, d.reason])));
    for (const d of down) {
      assert.equal(d.decision, 'escalate');
      assert.ok(Date.parse(d.decided_at) < thawedAt, 'decided while Redis was frozen');
      assert.match(d.error ?? '', /timed out|Connection|closed/i);
    }
    for (const d of all)
      if (d.decision === 'act')
        assert.ok(Date.parse(d.decided_at) >= thawedAt, `${d.event_id} acted while Redis was frozen`);
    for (const node of stack.nodes.values())
      assert.equal(node.child.exitCode, null, `node ${node.id} is alive`);

    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-2' });
    const after_ = hostDown('sms-api', 'sms-api-2');
    await probe.put(after_);
    const d = await probe.waitDecision(after_.id);
    assert.equal(d.decision, 'act', `${d.decision}/${d.reason ?? ''}`);
  });

  test('a dead attempt met while Redis is down: once its decision is written, its lock is freed and its acknowledged page escalated', async () => {
    const { stack, probe } = s!;
    // What node d left when it died between acknowledging the page and writing its decision.
    const event = hostDown('sms-api', 'sms-api-6', { incident_key: 'PD-gates-orphan' });
    probe.page(event);
    const lockKey = probe.keys.lock('host:sms-api/sms-api-6');
    const owner = `event:${event.id}@d`;
    await probe.redis.set(lockKey, `${owner}:41`, 'PX', 600_000);
    const attempt = {
      node: 'd',
      lock: { resource: 'host:sms-api/sms-api-6', owner, token: 41 },
      acknowledged: true,
    };
    await probe.redis.set(probe.keys.attempt(event.id), JSON.stringify(attempt), 'PX', 600_000);
    stack.pagerduty.acknowledgeAs('PD-gates-orphan', 'lazarus@local.invalid');

    // Read while Redis is frozen: the reader cannot claim it, so it is decided dependency_down and
    // written once Redis is back, by the same reader (leases of 30 s outlast the freeze).
    stack.freezeRedis();
    let thawedAt = 0;
    try {
      await probe.put(event);
      await waitFor(
        'the reader to escalate it dependency_down',
        async () => ((await logLines(stack, event.id, 'escalate: dependency_down')) > 0 ? true : undefined),
        60_000,
      );
    } finally {
      stack.thawRedis();
      thawedAt = Date.now();
    }
    const d = await waitFor(
      'the decision, with the earlier attempt it answered for',
      async () => {
        const found = await probe.decision(event.id);
        return found?.earlier_attempt === undefined ? undefined : found;
      },
      30_000,
    );
    assert.deepEqual([d.decision, d.reason], ['escalate', 'dependency_down']);
    assert.ok(Date.parse(d.decided_at) < thawedAt, 'decided while Redis was frozen');
    assert.deepEqual(d.earlier_attempt, attempt);
    assert.equal(await probe.redis.exists(lockKey), 0, "the dead attempt's lock is freed");
    await waitFor(
      'its page escalated to the humans',
      () =>
        Promise.resolve(
          stack.pagerduty.incident('PD-gates-orphan')?.escalation_level === 2 ? true : undefined,
        ),
      20_000,
    );
  });
});

/** Lines of the nodes' logs about `eventId` that contain `text`. */
async function logLines(stack: LocalStack, eventId: string, text: string): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  let count = 0;
  for (const node of stack.nodes.keys()) {
    const log = await readFile(`${stack.workDir}/logs/node-${node}.log`, 'utf8').catch(() => '');
    count += log.split('\n').filter((l) => l.includes(`"event":"${eventId}"`) && l.includes(text)).length;
  }
  return count;
}
