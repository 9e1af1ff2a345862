/**
 * Folding events about the same thing (DESIGN step 3): the first event for a (service, resource,
 * type) within the window is acted on; the others within the window fold into it. The window is the
 * key's TTL, counted from the first event, so a flapping host reported every minute is folded for
 * one window and then reported again.
 *
 * Fail safe: `fold` rejects with `LZ_ERR_DEPENDENCY_DOWN` when Redis is unreachable or the command
 * times out; the caller escalates with `dependency_down` (a timed-out fold may have taken the key:
 * a redelivery of the same event finds itself first again).
 */
import type { RedisClient } from '../common/redis.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, replies, runScript, script } from '../common/lua.js';
import { requireInteger, requireName } from './arguments.js';
import { viaRedis } from './errors.js';

/** The id of the window's first event. */
const FOLD = script('safety', 'dedup-fold', ['window'], replies.text);

export type FoldResult = { readonly first: true } | { readonly first: false; readonly firstEventId: string };

export class Deduplicator {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    defineScripts(redis, [FOLD]);
  }

  /**
   * `first: true` when this event owns the window (it is the first, or a redelivery of the first);
   * otherwise the id of the event it folds into.
   */
  async fold(
    service: string,
    resource: string,
    type: string,
    eventId: string,
    windowMs: number,
  ): Promise<FoldResult> {
    requireName('service', service);
    requireName('resource', resource);
    requireName('type', type);
    requireName('eventId', eventId);
    requireInteger('windowMs', windowMs, 1);
    const owner = await viaRedis('dedup fold', () =>
      runScript(this.redis, FOLD, { window: this.keys.dedup(service, resource, type) }, [eventId, windowMs]),
    );
    return owner === eventId ? { first: true } : { first: false, firstEventId: owner };
  }
}
