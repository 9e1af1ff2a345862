/**
 * Per-service rate limit (DESIGN "Safety"): every event of a service counts in a rolling window;
 * over the threshold, actions on the service are suspended until the count falls back under it.
 *
 * The window is a sorted set per service (event id → time), trimmed and counted by one Lua script
 * per event. An event is in the window while its time `t` satisfies `t > now - windowMs`: an event
 * exactly `windowMs` old has left it. Times after `now` (another node's clock ahead of ours) still
 * count: an over-count only suspends actions, an under-count lets them run.
 *
 * Fail safe: every method rejects with `LZ_ERR_DEPENDENCY_DOWN` when Redis is unreachable or a
 * command times out. The caller must take a rejection as "not allowed" and escalate with
 * `dependency_down`. A `hit` that timed out may still have been counted; that only errs towards
 * suspending.
 */
import type { RedisClient } from '../common/redis.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, runScript, script } from '../common/lua.js';
import { requireInteger, requireName } from './arguments.js';
import { viaRedis } from './errors.js';

/** The events in the window, this one counted (at least 1). */
const HIT = script('safety', 'rate-hit', ['window'], (reply) =>
  typeof reply === 'number' && reply >= 1 ? reply : undefined,
);

export interface RateVerdict {
  /** `count <= threshold`. */
  readonly allowed: boolean;
  /** Events of the service in the window, this one included. */
  readonly count: number;
  readonly threshold: number;
  readonly windowMs: number;
}

export class RateLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    defineScripts(redis, [HIT]);
  }

  /**
   * Counts the event (once per event id: a redelivered event is not counted again while it is in
   * the window) and says whether the service is still under its threshold.
   */
  async hit(
    service: string,
    eventId: string,
    nowMs: number,
    windowMs: number,
    threshold: number,
  ): Promise<RateVerdict> {
    requireName('service', service);
    requireName('eventId', eventId);
    requireInteger('nowMs', nowMs, 0);
    requireInteger('windowMs', windowMs, 1);
    requireInteger('threshold', threshold, 0);
    const count = await viaRedis('rate limit hit', () =>
      runScript(this.redis, HIT, { window: this.keys.rateWindow(service) }, [nowMs, windowMs, eventId]),
    );
    return { allowed: count <= threshold, count, threshold, windowMs };
  }

  /** Events of the service in the window at `nowMs`, without counting one (read only). */
  async count(service: string, nowMs: number, windowMs: number): Promise<number> {
    requireName('service', service);
    requireInteger('nowMs', nowMs, 0);
    requireInteger('windowMs', windowMs, 1);
    return viaRedis('rate limit count', () =>
      this.redis.zcount(this.keys.rateWindow(service), `(${nowMs - windowMs}`, '+inf'),
    );
  }
}
