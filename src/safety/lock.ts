/**
 * Resource locks with fencing tokens (DESIGN "Safety"): a `host` or `service` lock held for the
 * life of a remediation, renewed while it runs, released only by its owner.
 *
 * The lock is a string `owner:token` with a TTL; the token comes from a per-resource counter that
 * never expires, so tokens strictly increase across acquisitions and a step can hand its token to
 * whatever it acts on, which then refuses an older one (a paused remediation whose lock expired).
 * Each operation is one Lua script.
 *
 * Fail safe: every method rejects with `LZ_ERR_DEPENDENCY_DOWN` when Redis is unreachable or a
 * command times out, and `acquire` also when fewer replicas than `replicaAck` say acknowledged the
 * lock in time (a failover could forget it). The caller must take a rejection as "not acquired" for what it does next
 * (escalate with `dependency_down`), but not as "not held": a timed-out `acquire` may have taken
 * the lock for us. Retrying it with the same owner is safe (it returns the same token); otherwise
 * the lock expires by its TTL.
 */
import type { RedisClient } from '../common/redis.js';
import type { RedisKeys } from '../common/keys.js';
import { lockRef } from '../common/lock-ref.js';
import type { LockRef } from '../common/lock-ref.js';
import { defineScripts, replies, runScript, script } from '../common/lua.js';
import { NO_REPLICAS, replicated } from '../common/replica-ack.js';
import type { ReplicaAck } from '../common/replica-ack.js';
import { requireInteger, requireName } from './arguments.js';
import { invalidArgument, scriptError, viaRedis } from './errors.js';

/** `[1, token]` taken, `[1, token, from]` taken over from `from`, `[0, holder, token]` held. */
type AcquireReply =
  | { readonly acquired: true; readonly token: number; readonly from?: string }
  | { readonly acquired: false; readonly holder: string; readonly token: number };
const ACQUIRE = script(
  'safety',
  'lock-acquire',
  ['lock', 'fence', 'claim', 'unless'],
  (reply): AcquireReply | undefined => {
    if (!Array.isArray(reply)) return undefined;
    const [acquired, a, b] = reply as unknown[];
    if (acquired === 1 && reply.length === 2 && typeof a === 'number') return { acquired: true, token: a };
    if (acquired === 1 && reply.length === 3 && typeof a === 'number' && typeof b === 'string')
      return { acquired: true, token: a, from: b };
    if (acquired === 0 && reply.length === 3 && typeof a === 'string' && typeof b === 'number')
      return { acquired: false, holder: a, token: b };
    return undefined;
  },
);
const RENEW = script('safety', 'lock-renew', ['lock'], replies.yesNo);
const RELEASE = script('safety', 'lock-release', ['lock'], replies.yesNo);
const RELEASE_OWNER = script('safety', 'lock-release-owner', ['lock'], replies.yesNo);

export type { LockRef };

export type LockResult =
  | { readonly acquired: true; readonly lock: HeldLock }
  | { readonly acquired: false; readonly holder: string; readonly token: number };

/**
 * A lock this process holds (or held: it may have expired, or been taken over, since), with the
 * two things its holder does with it, as node-redlock's lock object has them. Both are fenced by
 * the token: on a lock that is no longer this one they do nothing and say `false`.
 */
export class HeldLock implements LockRef {
  readonly #locks: ResourceLocks;

  constructor(
    locks: ResourceLocks,
    readonly resource: string,
    readonly owner: string,
    readonly token: number,
    /** The owner of an earlier attempt whose lock this one took over (see `acquire`'s `takeOver`). */
    readonly tookOverFrom?: string,
  ) {
    this.#locks = locks;
  }

  /** Restarts its TTL; `false`: it is no longer this owner's with this token (expired, released, taken). */
  renew(ttlMs: number): Promise<boolean> {
    return this.#locks.renew(this.resource, this.owner, this.token, ttlMs);
  }

  /** Lets it go; `false`: nothing released, it was no longer this holding. */
  release(): Promise<boolean> {
    return this.#locks.release(this.resource, this.owner, this.token);
  }

  /** What a record keeps of it. */
  toJSON(): LockRef {
    return lockRef(this);
  }
}

export interface LockHolder {
  readonly owner: string;
  readonly token: number;
}

/** The resource name of a lock: `host:<service>/<host>` or `service:<service>`. */
export function lockResource(kind: 'host' | 'service', service: string, host?: string): string {
  if (service === '') {
    throw invalidArgument(`a ${kind} lock needs a service name`);
  }
  if (kind === 'service') return `service:${service}`;
  if (host === undefined || host === '') {
    throw invalidArgument(`a host lock on service "${service}" needs a host name (the event has no host)`);
  }
  return `host:${service}/${host}`;
}

export class ResourceLocks {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    /** Replicas that must have a lock (and its token) before it counts as taken (see replica-ack.ts). */
    private readonly replicaAck: ReplicaAck = NO_REPLICAS,
  ) {
    defineScripts(redis, [ACQUIRE, RENEW, RELEASE, RELEASE_OWNER]);
  }

  /**
   * Takes the lock if it is free (with a new token), returns the same token if `owner` holds it
   * already (restarting its TTL), or reports the holder. With `takeOver`, a lock held by `from` (an
   * earlier attempt at the same work) is taken over with a new token, provided, in the same script,
   * that the Redis key `claim` holds `holder` (the caller's claim on the work: the earlier attempt's
   * has expired) and that the key `unless` (the work's result) does not exist.
   */
  async acquire(
    resource: string,
    owner: string,
    ttlMs: number,
    options: {
      readonly takeOver?: {
        readonly from: string;
        readonly claim: string;
        readonly holder: string;
        readonly unless: string;
      };
    } = {},
  ): Promise<LockResult> {
    requireName('resource', resource);
    requireName('owner', owner);
    requireInteger('ttlMs', ttlMs, 1);
    const reply = await viaRedis(`lock acquire ${resource}`, () =>
      runScript(
        this.redis,
        ACQUIRE,
        {
          lock: this.keys.lock(resource),
          fence: this.keys.lockFence(resource),
          claim: options.takeOver?.claim ?? this.keys.lock(resource),
          unless: options.takeOver?.unless ?? this.keys.lock(resource),
        },
        [owner, ttlMs, options.takeOver?.from ?? '', options.takeOver?.holder ?? ''],
      ),
    );
    if (!reply.acquired) return reply;
    // Not yet on a replica, the lock and its token could be forgotten by a failover: not taken.
    // The caller lets it go as a lock it may hold (as after a timeout).
    await replicated(this.redis, this.keys.lock(resource), this.replicaAck, `lock acquire ${resource}`);
    return { acquired: true, lock: new HeldLock(this, resource, owner, reply.token, reply.from) };
  }

  /** A lock written down earlier (in a run, an attempt record, a decision), to renew or release. */
  held(ref: LockRef): HeldLock {
    return new HeldLock(this, ref.resource, ref.owner, ref.token);
  }

  /** `false`: the lock is no longer this owner's with this token (expired, released, taken). */
  async renew(resource: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    requireName('resource', resource);
    requireName('owner', owner);
    requireInteger('token', token, 1);
    requireInteger('ttlMs', ttlMs, 1);
    return viaRedis(`lock renew ${resource}`, () =>
      runScript(this.redis, RENEW, { lock: this.keys.lock(resource) }, [`${owner}:${token}`, ttlMs]),
    );
  }

  /** `false`: nothing released, the lock was not this owner's with this token. */
  async release(resource: string, owner: string, token: number): Promise<boolean> {
    requireName('resource', resource);
    requireName('owner', owner);
    requireInteger('token', token, 1);
    return viaRedis(`lock release ${resource}`, () =>
      runScript(this.redis, RELEASE, { lock: this.keys.lock(resource) }, [`${owner}:${token}`]),
    );
  }

  /**
   * Releases the lock if `owner` holds it, whatever the token: for an acquire whose reply was lost.
   * An owner (`event:<id>@<node>`) is one node's decision of one event, handled once at a time in
   * its process, and a decided event never takes a lock again: another holding is never released.
   */
  async releaseOwned(resource: string, owner: string): Promise<boolean> {
    requireName('resource', resource);
    requireName('owner', owner);
    return viaRedis(`lock release ${resource}`, () =>
      runScript(this.redis, RELEASE_OWNER, { lock: this.keys.lock(resource) }, [owner]),
    );
  }

  /** Who holds the lock now, if anyone. */
  async holder(resource: string): Promise<LockHolder | undefined> {
    requireName('resource', resource);
    const value = await viaRedis(`lock holder ${resource}`, () => this.redis.get(this.keys.lock(resource)));
    if (value === null) return undefined;
    // The owner may contain ':'; the token is what follows the last one (as in lock-acquire.lua).
    const match = /^(.*):(\d+)$/s.exec(value);
    if (match === null) throw scriptError(ACQUIRE.name, value);
    return { owner: match[1] ?? '', token: Number(match[2]) };
  }
}
