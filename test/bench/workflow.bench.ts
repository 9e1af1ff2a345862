/**
 * The workflow engine's own cost against a private redis-server, beside BullMQ's flows on the same
 * server in the same run: a chain of 7 steps whose actions do nothing (so what is measured is the
 * engine and its writes: the run created, each step recorded `running` then `succeeded` through the
 * store fenced by the run's lease, the run's end), one run at a time (p50 and p99 of a run), and
 * 200 runs at once (the time until the last has ended). BullMQ's chain is a flow of 7 nested jobs
 * (a parent runs once its child has completed), processed by one worker.
 *
 * Run: npm run bench:workflow. `--smoke`: a small size for CI (the figures mean little).
 */
import { FlowProducer, QueueEvents, Worker } from 'bullmq';
import type { FlowJob } from 'bullmq';
import { Redis } from 'ioredis';
import { table } from '../../src/cli/format.js';
import { RedisKeys } from '../../src/common/keys.js';
import type { CompiledStep, CompiledWorkflow } from '../../src/config/types.js';
import { startRedis } from '../../src/sim/redis-server.js';
import { newRun, runWorkflow } from '../../src/workflow/engine.js';
import { RedisRunStore } from '../../src/workflow/redis-store.js';

const SMOKE = process.argv.includes('--smoke');
const SIZE = SMOKE
  ? { chains: 30, warmUp: 10, atOnce: 20, rounds: 1 }
  : { chains: 500, warmUp: 100, atOnce: 200, rounds: 3 };
const STEPS = 7;

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const median = (xs: readonly number[]): number => pct(xs, 50);

function step(id: string, needs: string[]): CompiledStep {
  return {
    id,
    action: 'noop',
    inputs: {},
    needs,
    timeoutMs: 5000,
    retries: 0,
    retryBackoffMs: 10,
    idempotent: true,
    retryable: true,
  };
}

const CHAIN: CompiledWorkflow = {
  name: 'bench.chain',
  description: '',
  steps: Array.from({ length: STEPS }, (_, i) => step(`s${i + 1}`, i === 0 ? [] : [`s${i}`])),
  onFailure: [step('escalate', [])],
  file: 'bench',
};

let seq = 0;

/** One run of the chain, as a node runs it: created, its lease taken, run through the fenced store. */
async function lazarusRun(redis: Redis, keys: RedisKeys, store: RedisRunStore): Promise<void> {
  const id = `run-${process.pid}-${++seq}`;
  const run = newRun(
    {
      id,
      workflow: CHAIN.name,
      event: { id: `ev-${id}`, service: 'svc', host: 'h-1' },
      rule: { id: 'svc/r', name: 'r', inputs: {} },
      params: {},
      region: { name: 'bench', orchestrator_url: 'http://orchestrator.invalid' },
      timeoutMs: 60_000,
    },
    CHAIN,
  );
  if (!(await store.create(run))) throw new Error(`run ${id} exists`);
  const lease = keys.runLease(id);
  if ((await redis.set(lease, 'a:1', 'PX', 60_000, 'NX')) !== 'OK') throw new Error('lease taken');
  const ended = await runWorkflow(run, {
    workflow: CHAIN,
    store: store.fenced(lease, 'a:1'),
    node: 'a',
    execute: () => Promise.resolve({}),
  });
  if (ended.status !== 'succeeded') throw new Error(`run ${id} ${ended.status}`);
}

/** A chain of 7 jobs as a BullMQ flow: the root is the last step, each job's child the one before. */
function bullChain(name: string): FlowJob {
  let job: FlowJob = { name: `${name}-s1`, queueName: 'chain', data: {} };
  for (let i = 2; i <= STEPS; i++)
    job = { name: `${name}-s${i}`, queueName: 'chain', data: {}, children: [job] };
  return job;
}

async function measure(
  label: string,
  one: () => Promise<void>,
): Promise<{ label: string; p50: number; p99: number; atOnceMs: number }> {
  for (let i = 0; i < SIZE.warmUp; i++) await one();
  const p50s: number[] = [];
  const p99s: number[] = [];
  const atOnce: number[] = [];
  for (let round = 0; round < SIZE.rounds; round++) {
    const times: number[] = [];
    for (let i = 0; i < SIZE.chains; i++) {
      const t = performance.now();
      await one();
      times.push(performance.now() - t);
    }
    p50s.push(pct(times, 50));
    p99s.push(pct(times, 99));
    const t = performance.now();
    await Promise.all(Array.from({ length: SIZE.atOnce }, one));
    atOnce.push(performance.now() - t);
    process.stderr.write(
      `  ${label}, round ${round + 1}/${SIZE.rounds}: p50 ${pct(times, 50).toFixed(2)} ms, ${SIZE.atOnce} at once ${atOnce.at(-1)?.toFixed(0)} ms\n`,
    );
  }
  return { label, p50: median(p50s), p99: median(p99s), atOnceMs: median(atOnce) };
}

async function main(): Promise<void> {
  const server = await startRedis();
  const redis = new Redis(server.url);
  const connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
  const worker = new Worker('chain', () => Promise.resolve({}), {
    connection,
    concurrency: 50,
    // Nothing of the benchmark's is kept once it has completed.
    removeOnComplete: { count: 0 },
  });
  const events = new QueueEvents('chain', { connection });
  const flows = new FlowProducer({ connection });
  // Each flow being added listens for the producer's closing: 200 at once are not a leak.
  flows.setMaxListeners(SIZE.atOnce + 10);
  try {
    await worker.waitUntilReady();
    await events.waitUntilReady();
    const keys = new RedisKeys('bench:workflow:');
    const store = new RedisRunStore(redis, keys);
    process.stderr.write(`a chain of ${STEPS} steps${SMOKE ? ' (smoke size)' : ''}: Lazarus...\n`);
    const ours = await measure('Lazarus', () => lazarusRun(redis, keys, store));
    process.stderr.write('BullMQ flows...\n');
    const bull = await measure('BullMQ', async () => {
      const { job } = await flows.add(bullChain(`c${++seq}`));
      await job.waitUntilFinished(events, 30_000);
    });
    process.stdout.write(
      '\n' +
        table([
          ['engine', `${STEPS}-step chain p50 ms`, 'p99 ms', `${SIZE.atOnce} runs at once, ms`],
          ...[ours, bull].map((r) => [r.label, r.p50.toFixed(2), r.p99.toFixed(2), r.atOnceMs.toFixed(0)]),
          [
            'Lazarus / BullMQ',
            `${(ours.p50 / bull.p50).toFixed(2)} (aim <= 0.6)`,
            (ours.p99 / bull.p99).toFixed(2),
            (ours.atOnceMs / bull.atOnceMs).toFixed(2),
          ],
        ]) +
        `\n\nmedians of ${SIZE.rounds} round(s) of ${SIZE.chains} chains one at a time, after ${SIZE.warmUp} to warm up; BullMQ: one worker, concurrency 50\n`,
    );
  } finally {
    await flows.close();
    await events.close();
    await worker.close();
    redis.disconnect();
    await server.stop();
  }
}

await main();
