/**
 * Regional circuit breaker (DESIGN "Safety"): when more than `threshold` distinct services have
 * failed within the window, every action in the region is suspended and every event escalates.
 *
 * The window is a sorted set (service → time of its latest failure). The breaker is open iff the
 * number of services in it is strictly over the threshold; a service is in it while its latest
 * failure time `t` satisfies `t > now - windowMs` (times after `now` count, see `rate-limiter.ts`).
 * A stored state lets the script see changes: each one is pushed onto a capped history with the
 * services that caused it. Nothing closes the breaker but time: the first `hit` or `state` after the
 * failures have aged out sees it closed and records the change.
 *
 * Fail safe: every method rejects with `LZ_ERR_DEPENDENCY_DOWN` when Redis is unreachable or a
 * command times out. The caller must take a rejection as "open" and escalate with
 * `dependency_down`.
 */
import type { RedisClient } from '../common/redis.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, runScript, script } from '../common/lua.js';
import { requireInteger, requireName } from './arguments.js';
import { scriptError, viaRedis } from './errors.js';

/**
 * The reply of breaker-update.lua (also part of gate-windows.lua's): `[open 0|1, services, change 0
 * none|1 opened|2 closed, tripping services, opened at]`; `undefined` for any other.
 */
export function decodeBreakerReply(reply: unknown): BreakerReply | undefined {
  if (!Array.isArray(reply) || reply.length !== 5) return undefined;
  const [open, count, change, services, openedAt] = reply as unknown[];
  if (
    (open !== 0 && open !== 1) ||
    typeof count !== 'number' ||
    (change !== 0 && change !== 1 && change !== 2) ||
    !Array.isArray(services) ||
    !services.every((s) => typeof s === 'string') ||
    typeof openedAt !== 'number'
  )
    return undefined;
  return { open: open === 1, count, change, services: services, openedAt };
}

export interface BreakerReply {
  readonly open: boolean;
  readonly count: number;
  readonly change: 0 | 1 | 2;
  readonly services: string[];
  readonly openedAt: number;
}

/** The verdict a breaker reply gives, for `threshold` and `windowMs`. */
export function breakerVerdict(reply: BreakerReply, threshold: number, windowMs: number): BreakerVerdict {
  const { open, count, change, services, openedAt } = reply;
  const verdict = { open, services: count, threshold, windowMs, ...(open ? { openedAt } : {}) };
  if (change === 0) return verdict;
  return { ...verdict, changed: change === 1 ? 'opened' : 'closed', tripping: services };
}

const UPDATE = script('safety', 'breaker-update', ['window', 'state', 'history'], decodeBreakerReply);

/** Changes kept in the history; an operator looks at the latest few, not at months of them. */
export const BREAKER_HISTORY_CAP = 1000;

export interface BreakerVerdict {
  readonly open: boolean;
  /** Distinct failing services in the window. */
  readonly services: number;
  readonly threshold: number;
  readonly windowMs: number;
  /** Set when this call saw the breaker change state (and recorded the change). */
  readonly changed?: 'opened' | 'closed';
  /** With `changed`: the services in the window at that moment, oldest failure first. */
  readonly tripping?: string[];
  /** While open: when it opened (epoch ms; `0` when not known). Names one opening. */
  readonly openedAt?: number;
}

/** One state change, as kept in the history. */
export interface BreakerChange {
  readonly state: 'open' | 'closed';
  /** `nowMs` of the call that saw the change. */
  readonly at: number;
  readonly services: string[];
  readonly count: number;
}

export class CircuitBreaker {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    defineScripts(redis, [UPDATE]);
  }

  /** Records a failure of `service` and returns the breaker's state. */
  async hit(service: string, nowMs: number, windowMs: number, threshold: number): Promise<BreakerVerdict> {
    requireName('service', service);
    return this.#update(service, nowMs, windowMs, threshold);
  }

  /** The breaker's state at `nowMs`, recording a change (typically a close) if it sees one. */
  async state(nowMs: number, windowMs: number, threshold: number): Promise<BreakerVerdict> {
    return this.#update('', nowMs, windowMs, threshold);
  }

  /**
   * The latest state changes, newest first.
   * @defaultValue limit 100
   */
  async history(limit = 100): Promise<BreakerChange[]> {
    requireInteger('limit', limit, 1);
    const entries = await viaRedis('breaker history', () =>
      this.redis.lrange(this.keys.breakerHistory, 0, limit - 1),
    );
    return entries.map((entry) => parseChange(entry));
  }

  async #update(
    service: string,
    nowMs: number,
    windowMs: number,
    threshold: number,
  ): Promise<BreakerVerdict> {
    requireInteger('nowMs', nowMs, 0);
    requireInteger('windowMs', windowMs, 1);
    requireInteger('threshold', threshold, 0);
    const reply = await viaRedis('breaker update', () =>
      runScript(
        this.redis,
        UPDATE,
        { window: this.keys.breakerWindow, state: this.keys.breakerState, history: this.keys.breakerHistory },
        [nowMs, windowMs, threshold, BREAKER_HISTORY_CAP, service],
      ),
    );
    return breakerVerdict(reply, threshold, windowMs);
  }
}

function parseChange(entry: string): BreakerChange {
  let value: unknown;
  try {
    value = JSON.parse(entry);
  } catch {
    throw scriptError(UPDATE.name, entry);
  }
  const v = value as Partial<Record<keyof BreakerChange, unknown>>;
  if (
    typeof value !== 'object' ||
    value === null ||
    (v.state !== 'open' && v.state !== 'closed') ||
    typeof v.at !== 'number' ||
    typeof v.count !== 'number' ||
    !Array.isArray(v.services) ||
    !v.services.every((s) => typeof s === 'string')
  ) {
    throw scriptError(UPDATE.name, entry);
  }
  return { state: v.state, at: v.at, services: v.services, count: v.count };
}
