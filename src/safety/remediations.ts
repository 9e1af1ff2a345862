/**
 * Recent remediations, per host (or resource) of a service: a host the controller remediated a
 * moment ago is not remediated again on a later report about it (another sensor, another state),
 * even when every check would pass. Replacing a host twice is the second-worst thing this controller
 * could do; a host that fails again right after its remediation is a problem for people.
 *
 * The record is written when a run starts (kept for the run's timeout and the window after it) and
 * again when it ends (kept for the window from then), always while the run holds its resource lock.
 * So whenever the lock is free, a remediation of the last `reremediate_after` is on record: the
 * pipeline reads it before the votes (to explain) and again once it holds the lock (to be sure).
 *
 * Fail safe: every method rejects with `LZ_ERR_DEPENDENCY_DOWN` when Redis cannot answer.
 */
import type { RedisClient } from '../common/redis.js';
import { viaRedis } from '../common/dependency.js';
import type { RedisKeys } from '../common/keys.js';
import { NO_REPLICAS, replicated } from '../common/replica-ack.js';
import type { ReplicaAck } from '../common/replica-ack.js';
import { requireInteger, requireName } from './arguments.js';

export interface Remediation {
  readonly event_id: string;
  readonly run_id: string;
  readonly workflow: string;
  readonly started_at: string;
  readonly ended_at?: string;
  /** How the run ended (`succeeded`, `failed`, ...); absent while it runs. */
  readonly outcome?: string;
}

export class RecentRemediations {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    /** Replicas that must have a record before it counts as written (see replica-ack.ts). */
    private readonly replicaAck: ReplicaAck = NO_REPLICAS,
  ) {}

  /** Records the remediation of `resource`, kept for `ttlMs`. */
  async record(service: string, resource: string, remediation: Remediation, ttlMs: number): Promise<void> {
    requireName('service', service);
    requireName('resource', resource);
    requireInteger('ttlMs', ttlMs, 1);
    const text = JSON.stringify(remediation);
    const key = this.keys.remediated(service, resource);
    await viaRedis('remediation record', () => this.redis.set(key, text, 'PX', ttlMs));
    // Forgotten by a failover, the record would let the host be remediated again at once.
    await replicated(this.redis, key, this.replicaAck, `remediation record ${service}/${resource}`);
  }

  /**
   * Forgets the remediation of `eventId` (its run never started): nothing was done to the host.
   * Called while that event's lock is still held, so no other remediation's record is in between.
   */
  async forget(service: string, resource: string, eventId: string): Promise<void> {
    const found = await this.latest(service, resource);
    if (found?.event_id !== eventId) return;
    await viaRedis('remediation forget', () => this.redis.del(this.keys.remediated(service, resource)));
  }

  /** The latest remediation of `resource` still on record, if any. */
  async latest(service: string, resource: string): Promise<Remediation | undefined> {
    requireName('service', service);
    requireName('resource', resource);
    const text = await viaRedis('remediation read', () =>
      this.redis.get(this.keys.remediated(service, resource)),
    );
    return text === null ? undefined : (JSON.parse(text) as Remediation);
  }
}
