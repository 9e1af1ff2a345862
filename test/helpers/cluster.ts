/** Helpers for tests that run a local region: put events, read decisions and rejected records. */
import { PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/common/keys.js';
import type { RedisClient } from '../../src/common/redis.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import type { RejectedRecord } from '../../src/controller/decision-store.js';
import type { LocalStack } from '../../src/sim/local-stack.js';
import type { RunState } from '../../src/workflow/types.js';
import { waitFor } from './wait.js';

let counter = 0;

export interface TestEvent {
  id: string;
  type: string;
  source: string;
  time: string;
  environment: string;
  service: string;
  host?: string;
  incident_key?: string;
  data: Record<string, unknown>;
}

/** A HARD Nagios host-down event for `service/host`, with a fresh id. */
export function hostDown(service: string, host: string, overrides: Partial<TestEvent> = {}): TestEvent {
  counter += 1;
  return {
    id: `t-${process.pid}-${Date.now().toString(36)}-${counter}`,
    type: 'NagiosHostAlarm',
    source: 'test',
    time: new Date().toISOString(),
    environment: 'prod',
    service,
    host,
    data: { host_state: 'DOWN', host_state_type: 'HARD' },
    ...overrides,
  };
}

export class ClusterProbe {
  readonly redis: RedisClient;
  readonly keys: RedisKeys;

  /** `redis`: a client of the stack's Redis when it is not one server at `stack.redisUrl` (a cluster). */
  constructor(
    readonly stack: LocalStack,
    redis?: RedisClient,
  ) {
    this.redis = redis ?? new Redis(stack.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
    this.keys = new RedisKeys(stack.region.keyPrefix);
  }

  /** Puts bytes on the stream with the partition key sensors use (`service/host`). */
  async put(
    event: TestEvent | Uint8Array,
    partitionKey?: string,
  ): Promise<{ shard: string; sequence: string }> {
    const data = event instanceof Uint8Array ? event : Buffer.from(JSON.stringify(event));
    const key =
      partitionKey ?? (event instanceof Uint8Array ? 'raw' : `${event.service}/${event.host ?? ''}`);
    const out = await this.stack.kinesis.send(
      new PutRecordCommand({ StreamName: this.stack.region.stream, PartitionKey: key, Data: data }),
    );
    return { shard: out.ShardId ?? '', sequence: out.SequenceNumber ?? '' };
  }

  /**
   * Puts many events in one PutRecords call each 500, partition key `service/host`, putting again
   * the records a call reports failed: a storm costs a few requests, not one connection per event.
   */
  async putMany(events: readonly TestEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 500) {
      let batch = events.slice(i, i + 500);
      for (let attempt = 0; batch.length > 0; attempt++) {
        if (attempt > 10) throw new Error(`${batch.length} records could not be put`);
        const out = await this.stack.kinesis.send(
          new PutRecordsCommand({
            StreamName: this.stack.region.stream,
            Records: batch.map((e) => ({
              PartitionKey: `${e.service}/${e.host ?? ''}`,
              Data: Buffer.from(JSON.stringify(e)),
            })),
          }),
        );
        batch = batch.filter((_, k) => out.Records?.[k]?.ErrorCode !== undefined);
      }
    }
  }

  /** Pages PagerDuty (the simulator) for the event, as its sensor does before sending it. */
  page(event: TestEvent): void {
    if (event.incident_key === undefined)
      throw new Error(`event ${event.id} has no incident_key to page with`);
    this.stack.pagerduty.createIncident({ incidentKey: event.incident_key, service: event.service });
  }

  /** The workflow run `id` with its steps, as Redis holds it; `undefined` when there is none. */
  async run(id: string): Promise<RunState | undefined> {
    const fields = await this.redis.hgetall(this.keys.run(id));
    if (fields['run'] === undefined) return undefined;
    const steps = Object.fromEntries(
      Object.entries(fields)
        .filter(([k]) => k.startsWith('step:'))
        .map(([k, v]) => [k.slice(5), JSON.parse(v) as RunState['steps'][string]]),
    );
    return { ...(JSON.parse(fields['run']) as RunState), steps };
  }

  /** The run once it has finished (succeeded or failed). */
  finished(id: string, timeoutMs = 60_000): Promise<RunState> {
    return waitFor(
      `run ${id} to finish`,
      async () => {
        const r = await this.run(id);
        return r !== undefined && r.status !== 'running' ? r : undefined;
      },
      timeoutMs,
      200,
    );
  }

  /**
   * Resolves once the lock on `resource` is gone. A run's end is written before its node lets go of
   * the lock (it records the remediation first), so a test that saw the run end waits for this.
   */
  async lockReleased(resource: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      `the lock on ${resource} to be released`,
      async () => ((await this.redis.exists(this.keys.lock(resource))) === 0 ? true : undefined),
      timeoutMs,
      50,
    );
  }

  async decision(id: string): Promise<DecisionRecord | undefined> {
    const text = await this.redis.get(this.keys.decision(id));
    return text === null ? undefined : (JSON.parse(text) as DecisionRecord);
  }

  waitDecision(id: string, timeoutMs = 20_000): Promise<DecisionRecord> {
    return waitFor(`a decision for ${id}`, () => this.decision(id), timeoutMs);
  }

  async rejected(): Promise<RejectedRecord[]> {
    return (await this.redis.lrange(this.keys.rejected, 0, -1)).map((t) => JSON.parse(t) as RejectedRecord);
  }

  async checkpoint(shard: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.checkpoint(shard))) ?? undefined;
  }

  /** Holder node of each shard lease. */
  async leaseHolders(shards: readonly string[]): Promise<Map<string, string | undefined>> {
    const values = await this.redis.mget(...shards.map((s) => this.keys.lease(s)));
    return new Map(shards.map((s, i) => [s, values[i]?.split(':')[0]]));
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

/** Kinesis sequence numbers are decimal strings: compare by length, then as text. */
export function compareSequence(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}
