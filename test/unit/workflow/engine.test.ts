import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { CompiledStep, CompiledWorkflow } from '../../../src/config/types.js';
import { newRun, runWorkflow } from '../../../src/workflow/engine.js';
import { MemoryRunStore } from '../../../src/workflow/memory-store.js';
import type { RunState, StepExecutor } from '../../../src/workflow/types.js';

function step(id: string, more: Partial<CompiledStep> = {}): CompiledStep {
  return {
    id,
    action: 'test',
    inputs: {},
    needs: [],
    timeoutMs: 5000,
    retries: 0,
    retryBackoffMs: 10,
    idempotent: true,
    retryable: true,
    ...more,
  };
}

function workflow(steps: CompiledStep[], onFailure: CompiledStep[] = []): CompiledWorkflow {
  return { name: 'test.flow', description: '', steps, onFailure, file: 'test' };
}

function run(wf: CompiledWorkflow, timeoutMs = 10_000): RunState {
  return newRun(
    {
      id: `run-${Math.random()}`,
      workflow: wf.name,
      event: { id: 'ev-1', service: 'svc', host: 'h-1', incident_key: 'PD-1' },
      rule: { id: 'svc/r', name: 'r', inputs: { group: 'team' } },
      params: { workflow_timeout: '30m' },
      region: { name: 'local-1', orchestrator_url: 'http://orch' },
      timeoutMs,
    },
    wf,
  );
}

class Failure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** An executor scripted per step: a function of the attempt, with a log of what ran when. */
function scripted(
  script: Record<
    string,
    (
      attempt: number,
      signal: AbortSignal,
      inputs: Readonly<Record<string, unknown>>,
    ) => Promise<Record<string, unknown>>
  >,
) {
  const log: { id: string; attempt: number; start: number; end?: number; inputs: unknown }[] = [];
  const execute: StepExecutor = async (s, inputs, attempt, signal) => {
    const entry: { id: string; attempt: number; start: number; end?: number; inputs: unknown } = {
      id: s.id,
      attempt,
      start: performance.now(),
      inputs,
    };
    log.push(entry);
    try {
      return await (script[s.id] ?? (() => Promise.resolve({})))(attempt, signal, inputs);
    } finally {
      entry.end = performance.now();
    }
  };
  return { execute, log };
}

const delay = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    });
  });

describe('workflow engine', () => {
  test('a diamond: independent steps run in parallel, a join waits for both, outputs flow through templates', async () => {
    const wf = workflow([
      step('a'),
      step('b', { needs: ['a'], inputs: { from_a: '{{ steps.a.outputs.value }}' } }),
      step('c', { needs: ['a'] }),
      step('d', { needs: ['b', 'c'], inputs: { host: '{{ event.host }} via {{ rule.inputs.group }}' } }),
    ]);
    const { execute, log } = scripted({
      a: () => Promise.resolve({ value: 42 }),
      b: () => delay(60).then(() => ({})),
      c: () => delay(60).then(() => ({})),
    });
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    const done = await runWorkflow(r, { workflow: wf, store, execute, node: 'a' });
    assert.equal(done.status, 'succeeded');
    const at = (id: string) => log.find((e) => e.id === id)!;
    assert.ok(at('b').start < at('c').end! && at('c').start < at('b').end!, 'b and c overlapped');
    assert.ok(at('d').start >= Math.max(at('b').end!, at('c').end!), 'd after both');
    assert.deepEqual(at('b').inputs, { from_a: 42 }, 'a lone reference keeps its type');
    assert.deepEqual(at('d').inputs, { host: 'h-1 via team' });
    const stored = await store.load(r.id);
    assert.deepEqual(
      Object.values(stored!.steps).map((s) => s.status),
      ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
    );
    assert.ok(stored!.steps['b']!.duration_ms! >= 50);
  });

  test("one write per transition: a step's end goes with the start of the next, the last with the run's end", async () => {
    const chain = Array.from({ length: 7 }, (_, i) => step(`s${i + 1}`, i === 0 ? {} : { needs: [`s${i}`] }));
    const wf = workflow(chain, [step('escalate')]);
    // What the store holds when each step starts: the step before it is written succeeded already.
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    const seen: string[] = [];
    const execute: StepExecutor = async (s) => {
      const stored = await store.load(r.id);
      const before = chain[chain.findIndex((c) => c.id === s.id) - 1];
      seen.push(
        `${s.id}:${stored?.steps[s.id]?.status}${before === undefined ? '' : `,${before.id}:${stored?.steps[before.id]?.status}`}`,
      );
      return {};
    };
    const done = await runWorkflow(r, { workflow: wf, store, execute, node: 'a' });
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(seen, [
      's1:running',
      ...chain.slice(1).map((c, i) => `${c.id}:running,s${i + 1}:succeeded`),
    ]);
    // The run's start, one write per step started, and the end (the last step's with the run's).
    assert.equal(store.calls, 1 + 7 + 1);
    const stored = await store.load(r.id);
    assert.equal(stored?.status, 'succeeded');
    assert.equal(stored?.steps['s7']?.status, 'succeeded');
    assert.equal(stored?.steps['escalate']?.status, 'pending');
  });

  test('concurrency: no more steps start (and are written running) than there are slots', async () => {
    const wf = workflow(['a', 'b', 'c', 'd', 'e'].map((id) => step(id)));
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    let running = 0;
    let most = 0;
    let mostWritten = 0;
    const execute: StepExecutor = async () => {
      running++;
      most = Math.max(most, running);
      const stored = await store.load(r.id);
      const written = Object.values(stored?.steps ?? {}).filter((s) => s.status === 'running').length;
      mostWritten = Math.max(mostWritten, written);
      await delay(20);
      running--;
      return {};
    };
    const done = await runWorkflow(r, { workflow: wf, store, execute, node: 'a', concurrency: 2 });
    assert.equal(done.status, 'succeeded');
    assert.equal(most, 2);
    assert.equal(mostWritten, 2, 'a step waiting for a slot is not recorded as running');
  });

  test('when: a false condition skips the step; its dependents still run', async () => {
    const wf = workflow([
      step('ack', { when: 'event.no_such_key' }),
      step('next', { needs: ['ack'], when: 'event.incident_key' }),
    ]);
    const { execute, log } = scripted({});
    const store = new MemoryRunStore();
    const done = await runWorkflow(run(wf), { workflow: wf, store, execute, node: 'a' });
    assert.equal(done.steps['ack']?.status, 'skipped');
    assert.equal(done.steps['next']?.status, 'succeeded');
    assert.deepEqual(
      log.map((e) => e.id),
      ['next'],
    );
  });

  test('retries with exponential backoff, then success; every attempt is recorded', async () => {
    const wf = workflow([step('flaky', { retries: 3, retryBackoffMs: 40 })]);
    const { execute, log } = scripted({
      flaky: (attempt) =>
        attempt < 3 ? Promise.reject(new Failure('503', true)) : Promise.resolve({ ok: true }),
    });
    const store = new MemoryRunStore();
    const done = await runWorkflow(run(wf), { workflow: wf, store, execute, node: 'a' });
    assert.equal(done.status, 'succeeded');
    assert.equal(done.steps['flaky']?.attempts, 3);
    const gap1 = log[1]!.start - log[0]!.end!;
    const gap2 = log[2]!.start - log[1]!.end!;
    assert.ok(gap1 >= 35 && gap2 >= 75, `backoff gaps ${gap1.toFixed(0)} ms, ${gap2.toFixed(0)} ms`);
    assert.deepEqual(
      store.writes.filter((w) => w.id === 'flaky').map((w) => w.status),
      ['running', 'running', 'running', 'running', 'running', 'succeeded'],
    );
  });

  test('a non-retryable error, or a step marked retryable: false, is not retried', async () => {
    for (const [s, error] of [
      [step('x', { retries: 5 }), new Failure('400 bad request', false)],
      [step('x', { retries: 0, retryable: false }), new Failure('503', true)],
    ] as const) {
      const wf = workflow([s]);
      const { execute, log } = scripted({ x: () => Promise.reject(error) });
      const done = await runWorkflow(run(wf), {
        workflow: wf,
        store: new MemoryRunStore(),
        execute,
        node: 'a',
      });
      assert.equal(done.status, 'failed');
      assert.equal(log.length, 1);
      assert.equal(done.failure?.reason, 'step_failed');
    }
  });

  test('step timeout: the attempt is aborted and fails', async () => {
    const wf = workflow([step('slow', { timeoutMs: 50 })]);
    let aborted = false;
    const { execute } = scripted({
      slow: (_a, signal) =>
        delay(5000, signal).then(
          () => ({}),
          (e: unknown) => {
            aborted = true;
            throw e;
          },
        ),
    });
    const started = performance.now();
    const done = await runWorkflow(run(wf), {
      workflow: wf,
      store: new MemoryRunStore(),
      execute,
      node: 'a',
    });
    assert.ok(performance.now() - started < 1000);
    assert.ok(aborted);
    assert.equal(done.status, 'failed');
    assert.match(done.steps['slow']?.error ?? '', /step timeout \(50 ms\)/);
  });

  test('run timeout: the run fails at its deadline and its on_failure steps still run with the failure in their inputs', async () => {
    const wf = workflow(
      [
        step('first'),
        step('verify', { needs: ['first'], timeoutMs: 60_000 }),
        step('after', { needs: ['verify'] }),
      ],
      [step('escalate', { inputs: { reason: 'failed at {{ failure.step }} ({{ failure.reason }})' } })],
    );
    const { execute, log } = scripted({ verify: (_a, signal) => delay(60_000, signal).then(() => ({})) });
    const started = performance.now();
    const done = await runWorkflow(run(wf, 150), {
      workflow: wf,
      store: new MemoryRunStore(),
      execute,
      node: 'a',
    });
    assert.ok(performance.now() - started < 2000);
    assert.equal(done.status, 'failed');
    assert.deepEqual([done.failure?.step, done.failure?.reason], ['verify', 'timeout']);
    assert.equal(done.steps['after']?.status, 'pending', 'nothing after the deadline');
    assert.equal(done.steps['escalate']?.status, 'succeeded');
    assert.deepEqual(log.find((e) => e.id === 'escalate')?.inputs, { reason: 'failed at verify (timeout)' });
  });

  test('lock lost: the running step is cancelled, nothing else starts, the run fails (lock_lost) and on_failure runs', async () => {
    const wf = workflow(
      [
        step('drain'),
        step('boot', { needs: ['drain'], timeoutMs: 60_000 }),
        step('add', { needs: ['boot'] }),
      ],
      [step('escalate', { inputs: { reason: '{{ failure.reason }}: {{ failure.message }}' } })],
    );
    const stop = new AbortController();
    const { execute, log } = scripted({
      boot: (_a, signal) => {
        setTimeout(() => stop.abort(new Error('lock host:svc/h-1 taken')), 50);
        return delay(60_000, signal).then(() => ({}));
      },
    });
    const started = performance.now();
    const done = await runWorkflow(run(wf), {
      workflow: wf,
      store: new MemoryRunStore(),
      execute,
      node: 'a',
      stop: stop.signal,
    });
    assert.ok(performance.now() - started < 2000, 'stopped at once, not at the step timeout');
    assert.equal(done.status, 'failed');
    assert.deepEqual([done.failure?.step, done.failure?.reason], ['boot', 'lock_lost']);
    assert.equal(done.steps['drain']?.status, 'succeeded');
    assert.equal(done.steps['boot']?.status, 'failed');
    assert.match(done.steps['boot']?.error ?? '', /lock host:svc\/h-1 taken/);
    assert.equal(done.steps['add']?.status, 'pending');
    assert.ok(!log.some((e) => e.id === 'add'), 'no step after the loss');
    assert.equal(done.steps['escalate']?.status, 'succeeded');
    assert.deepEqual(log.find((e) => e.id === 'escalate')?.inputs, {
      reason: 'lock_lost: lock host:svc/h-1 taken',
    });
  });

  test('a run whose lock is already lost when it starts (or is taken over) runs no step', async () => {
    const wf = workflow([step('drain'), step('boot', { needs: ['drain'] })], [step('escalate')]);
    const stop = new AbortController();
    stop.abort(new Error('lock gone'));
    const { execute, log } = scripted({});
    const done = await runWorkflow(run(wf), {
      workflow: wf,
      store: new MemoryRunStore(),
      execute,
      node: 'a',
      stop: stop.signal,
    });
    assert.deepEqual(
      [done.status, done.failure?.step, done.failure?.reason],
      ['failed', 'drain', 'lock_lost'],
    );
    assert.deepEqual(
      log.map((e) => e.id),
      ['escalate'],
    );
  });

  test('a failure stops the run: siblings are aborted, dependents never start, on_failure runs', async () => {
    const wf = workflow(
      [
        step('a'),
        step('b', { needs: ['a'] }),
        step('long', { needs: ['a'] }),
        step('c', { needs: ['b', 'long'] }),
      ],
      [step('escalate')],
    );
    const { execute, log } = scripted({
      b: () => Promise.reject(new Failure('boom', false)),
      long: (_a, signal) => delay(10_000, signal).then(() => ({})),
    });
    const done = await runWorkflow(run(wf), {
      workflow: wf,
      store: new MemoryRunStore(),
      execute,
      node: 'a',
    });
    assert.equal(done.status, 'failed');
    assert.equal(done.failure?.step, 'b');
    assert.equal(done.steps['long']?.status, 'failed');
    assert.equal(done.steps['c']?.status, 'pending');
    assert.ok(!log.some((e) => e.id === 'c'));
    assert.equal(done.steps['escalate']?.status, 'succeeded');
  });

  test('resume after a crash: an idempotent step that was running runs again; steps that succeeded do not', async () => {
    const wf = workflow([step('a'), step('b', { needs: ['a'] }), step('c', { needs: ['b'] })]);
    const r = run(wf);
    r.steps['a']!.status = 'succeeded';
    r.steps['a']!.outputs = { id: 'x' };
    r.steps['b']!.status = 'running';
    r.steps['b']!.attempts = 1;
    r.nodes.push('dead-node');
    const { execute, log } = scripted({});
    const done = await runWorkflow(r, { workflow: wf, store: new MemoryRunStore(), execute, node: 'b' });
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(
      log.map((e) => e.id),
      ['b', 'c'],
    );
    assert.equal(done.steps['b']?.attempts, 2);
    assert.deepEqual(done.nodes, ['dead-node', 'b']);
  });

  test('resume after a crash: a non-idempotent step that was running is not run again; the run escalates', async () => {
    const wf = workflow(
      [step('a'), step('boot', { needs: ['a'], idempotent: false }), step('c', { needs: ['boot'] })],
      [step('escalate')],
    );
    const r = run(wf);
    r.steps['a']!.status = 'succeeded';
    r.steps['boot']!.status = 'running';
    const { execute, log } = scripted({});
    const done = await runWorkflow(r, { workflow: wf, store: new MemoryRunStore(), execute, node: 'b' });
    assert.equal(done.status, 'failed');
    assert.equal(done.steps['boot']?.status, 'unknown');
    assert.equal(done.failure?.reason, 'unknown_outcome');
    assert.deepEqual(
      log.map((e) => e.id),
      ['escalate'],
    );
  });

  test('resume after a crash: a step stored failed in a run with no failure yet fails the run, never succeeds it', async () => {
    const wf = workflow([step('a'), step('b'), step('c', { needs: ['b'] })], [step('escalate')]);
    const r = run(wf);
    r.steps['a']!.status = 'succeeded';
    r.steps['b']!.status = 'failed';
    r.steps['b']!.error = 'attempt 1: 500';
    const { execute, log } = scripted({});
    const done = await runWorkflow(r, { workflow: wf, store: new MemoryRunStore(), execute, node: 'b' });
    assert.equal(done.status, 'failed');
    assert.deepEqual(done.failure, { step: 'b', message: 'attempt 1: 500', reason: 'step_failed' });
    assert.deepEqual(
      log.map((e) => e.id),
      ['escalate'],
    );
  });

  test("a step's failure is written with the run's: no record shows a failed step in a run going on", async () => {
    const wf = workflow([step('a', { retries: 0 }), step('b', { needs: ['a'] })], [step('escalate')]);
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    const { execute } = scripted({ a: () => Promise.reject(new Failure('400', false)) });
    const writes: { steps: string[]; failure?: string }[] = [];
    const saveSteps = store.saveSteps.bind(store);
    store.saveSteps = (runId, steps, withRun) => {
      writes.push({
        steps: steps.map((x) => `${x.id}:${x.status}`),
        ...(withRun?.failure === undefined ? {} : { failure: withRun.failure.step }),
      });
      return saveSteps(runId, steps, withRun);
    };
    await runWorkflow(r, { workflow: wf, store, execute, node: 'a' });
    const failedWrite = writes.find((w) => w.steps.includes('a:failed'));
    assert.deepEqual(failedWrite, { steps: ['a:failed'], failure: 'a' });
  });

  test('the write that starts steps fails: nothing starts, running siblings are stopped and waited for, the run fails', async () => {
    const wf = workflow(
      [step('slow'), step('quick'), step('next', { needs: ['quick'] })],
      [step('escalate')],
    );
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    const saveSteps = store.saveSteps.bind(store);
    store.saveSteps = (runId, steps, withRun) =>
      steps.some((x) => x.id === 'next' && x.status === 'running')
        ? Promise.reject(new Error('Redis: command timed out'))
        : saveSteps(runId, steps, withRun);
    let slowAborted = false;
    let slowEnded = false;
    const { execute, log } = scripted({
      slow: (_attempt, signal) =>
        delay(5_000, signal).then(
          () => ({}),
          (error: unknown) => {
            slowAborted = signal.aborted;
            throw error;
          },
        ),
    });
    const wrapped: StepExecutor = (...args) =>
      execute(...args).finally(() => {
        if (args[0].id === 'slow') slowEnded = true;
      });
    const done = await runWorkflow(r, { workflow: wf, store, execute: wrapped, node: 'a' });
    assert.equal(done.status, 'failed');
    assert.equal(done.failure?.step, 'next');
    assert.match(done.failure?.message ?? '', /command timed out/);
    assert.ok(slowAborted && slowEnded, 'the sibling was stopped, and the run waited for it');
    assert.equal(done.steps['next']?.status, 'pending', 'never started');
    assert.ok(!log.some((e) => e.id === 'next'));
    assert.deepEqual(
      log.map((e) => e.id).filter((id) => id === 'escalate'),
      ['escalate'],
    );
    const stored = await store.load(r.id);
    assert.equal(stored?.steps['quick']?.status, 'succeeded', "quick's end is written with the run's");
    assert.equal(stored?.status, 'failed');
  });

  test('a step that ends while a write is in flight is written by the next one', async () => {
    // a and b start together; b ends while the write that starts c (after a) is in flight.
    const wf = workflow([step('a'), step('b'), step('c', { needs: ['a'] })]);
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    let releaseB: () => void = () => undefined;
    const bMayEnd = new Promise<void>((resolve) => (releaseB = resolve));
    const saveSteps = store.saveSteps.bind(store);
    store.saveSteps = async (runId, steps, withRun) => {
      if (steps.some((x) => x.id === 'c' && x.status === 'running')) {
        releaseB();
        await delay(30);
      }
      return saveSteps(runId, steps, withRun);
    };
    const { execute } = scripted({ b: () => bMayEnd.then(() => ({})) });
    const done = await runWorkflow(r, { workflow: wf, store, execute, node: 'a' });
    assert.equal(done.status, 'succeeded');
    const stored = await store.load(r.id);
    assert.deepEqual(
      ['a', 'b', 'c'].map((id) => stored?.steps[id]?.status),
      ['succeeded', 'succeeded', 'succeeded'],
    );
  });

  test('a step that ends while an end alone is being written still lets its dependents go', async () => {
    // p ends first and is written alone (q still runs); q ends during that write; r needs q.
    const wf = workflow([step('p'), step('q'), step('r', { needs: ['q'] })]);
    const store = new MemoryRunStore();
    const r = run(wf);
    await store.create(r);
    const saveSteps = store.saveSteps.bind(store);
    store.saveSteps = async (runId, steps, withRun) => {
      if (withRun === undefined && steps.length === 1 && steps[0]?.id === 'p') await delay(60);
      return saveSteps(runId, steps, withRun);
    };
    const { execute, log } = scripted({ q: () => delay(20).then(() => ({})) });
    const done = await runWorkflow(r, { workflow: wf, store, execute, node: 'a' });
    assert.deepEqual(
      log.map((e) => e.id),
      ['p', 'q', 'r'],
    );
    assert.equal(done.steps['r']?.status, 'succeeded');
    assert.equal(done.status, 'succeeded');
  });
});
