/**
 * The run store fenced by the run's lease, against a real redis-server: a node whose lease on a run
 * is gone writes nothing more, and the engine starts no step it cannot record as running.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { privateRedis } from '../../helpers/redis.js';
import type { CompiledStep, CompiledWorkflow } from '../../../src/config/types.js';
import { LzError } from '../../../src/common/errors.js';
import { newRun, runWorkflow } from '../../../src/workflow/engine.js';
import { RedisRunStore, RunStoreErrorCodes } from '../../../src/workflow/redis-store.js';
import type { RunState } from '../../../src/workflow/types.js';
import { freshKeys } from '../api/fixtures.js';

function step(id: string, needs: string[] = []): CompiledStep {
  return {
    id,
    action: 'test',
    inputs: {},
    needs,
    timeoutMs: 5000,
    retries: 0,
    retryBackoffMs: 10,
    idempotent: true,
    retryable: true,
  };
}

const WORKFLOW: CompiledWorkflow = {
  name: 'test.fenced',
  description: '',
  steps: [step('drain'), step('boot', ['drain']), step('add', ['boot'])],
  onFailure: [step('escalate')],
  file: 'test',
};

function run(id: string): RunState {
  return newRun(
    {
      id,
      workflow: WORKFLOW.name,
      event: { id: `ev-${id}`, service: 'svc', host: 'h-1' },
      rule: { id: 'svc/r', name: 'r', inputs: {} },
      params: {},
      region: { name: 'local-1', orchestrator_url: 'http://orch' },
      timeoutMs: 60_000,
    },
    WORKFLOW,
  );
}

describe('run store fenced by the run lease', () => {
  const db = privateRedis();

  test('writes go through while the lease is held, and are refused once another node holds it', async () => {
    const keys = freshKeys();
    const store = new RedisRunStore(db.redis, keys);
    const r = run('run-1');
    assert.ok(await store.create(r));
    const lease = keys.runLease(r.id);
    await db.redis.set(lease, 'a:1', 'PX', 60_000);
    const a = store.fenced(lease, 'a:1');
    await a.saveStep(r.id, { ...r.steps['drain']!, status: 'succeeded' });
    assert.equal((await store.load(r.id))?.steps['drain']?.status, 'succeeded');

    await db.redis.set(lease, 'b:2', 'PX', 60_000);
    await assert.rejects(
      a.saveStep(r.id, { ...r.steps['boot']!, status: 'running' }),
      (e: unknown) =>
        e instanceof LzError && e.code === RunStoreErrorCodes.LEASE_LOST && /a:1/.test(e.message),
    );
    await assert.rejects(a.saveRun({ ...r, status: 'failed' }), /lease is no longer this node's/);
    const kept = await store.load(r.id);
    assert.equal(kept?.steps['boot']?.status, 'pending', 'the step was not overwritten');
    assert.equal(kept?.status, 'running', 'the run was not ended');
    assert.deepEqual(
      await db.redis.zrange(keys.activeRuns, '0', '-1'),
      [r.id],
      'still active for its new owner',
    );

    // The owner's end of the run leaves the index and is kept for the audit trail.
    const b = store.fenced(lease, 'b:2');
    await b.saveRun({ ...r, status: 'succeeded' });
    assert.deepEqual(await db.redis.zrange(keys.activeRuns, '0', '-1'), []);
    assert.ok((await db.redis.pttl(keys.run(r.id))) > 0);
  });

  test('several steps and the run in one write: all of them, or none once the lease is lost', async () => {
    const keys = freshKeys();
    const store = new RedisRunStore(db.redis, keys);
    const r = run('run-3');
    assert.ok(await store.create(r));
    const lease = keys.runLease(r.id);
    await db.redis.set(lease, 'a:1', 'PX', 60_000);
    const a = store.fenced(lease, 'a:1');
    await a.saveSteps(r.id, [
      { ...r.steps['drain']!, status: 'succeeded' },
      { ...r.steps['boot']!, status: 'running' },
    ]);
    let kept = await store.load(r.id);
    assert.deepEqual([kept?.steps['drain']?.status, kept?.steps['boot']?.status], ['succeeded', 'running']);

    await db.redis.set(lease, 'b:2', 'PX', 60_000);
    await assert.rejects(
      a.saveSteps(r.id, [{ ...r.steps['boot']!, status: 'succeeded' }], { ...r, status: 'succeeded' }),
      (e: unknown) => e instanceof LzError && e.code === RunStoreErrorCodes.LEASE_LOST,
    );
    kept = await store.load(r.id);
    assert.equal(kept?.steps['boot']?.status, 'running', 'the step was not overwritten');
    assert.equal(kept?.status, 'running', 'nor the run ended');
    assert.deepEqual(await db.redis.zrange(keys.activeRuns, '0', '-1'), [r.id]);

    // The owner's last step and the run's end, in one write: it leaves the index.
    await store
      .fenced(lease, 'b:2')
      .saveSteps(r.id, [{ ...r.steps['boot']!, status: 'succeeded' }], { ...r, status: 'succeeded' });
    kept = await store.load(r.id);
    assert.deepEqual([kept?.steps['boot']?.status, kept?.status], ['succeeded', 'succeeded']);
    assert.deepEqual(await db.redis.zrange(keys.activeRuns, '0', '-1'), []);
    assert.ok((await db.redis.pttl(keys.run(r.id))) > 0);
  });

  test('the engine on a node whose lease is lost starts no other step and writes no end', async () => {
    const keys = freshKeys();
    const store = new RedisRunStore(db.redis, keys);
    const r = run('run-2');
    assert.ok(await store.create(r));
    const lease = keys.runLease(r.id);
    await db.redis.set(lease, 'a:1', 'PX', 60_000);
    const executed: string[] = [];
    const ended = await runWorkflow(r, {
      workflow: WORKFLOW,
      store: store.fenced(lease, 'a:1'),
      node: 'a',
      execute: async (s) => {
        executed.push(s.id);
        // While drain runs, the lease lapses and node b takes the run over.
        if (s.id === 'drain') await db.redis.set(lease, 'b:2', 'PX', 60_000);
        return {};
      },
    }).then(
      () => 'ended',
      (error: unknown) => (error instanceof LzError ? error.code : String(error)),
    );
    assert.equal(ended, RunStoreErrorCodes.LEASE_LOST);
    assert.deepEqual(executed, ['drain'], 'neither boot nor the on_failure steps ran here');
    const kept = await store.load(r.id);
    assert.equal(kept?.status, 'running');
    assert.equal(kept?.steps['drain']?.status, 'running', 'left for the new owner to run again (idempotent)');
    assert.equal(kept?.steps['boot']?.status, 'pending');
    assert.equal(kept?.steps['escalate']?.status, 'pending');
  });
});
