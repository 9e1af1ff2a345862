/**
 * The part of an event's audit trail that comes after its decision: page calls (acknowledge,
 * escalate, note) with their attempts and latency, and the notifications handed to channels. The
 * decision record holds everything up to the decision, the workflow run holds its steps; these
 * entries fill the gap between them, so that a postmortem reads the whole story from one trace.
 *
 * One Redis list per event, appended by whichever node did the step, expiring with the decision.
 * Writing is best effort: an entry that cannot be written is logged, never allowed to hold up or
 * fail the step it describes.
 */
import type { RedisClient } from '../common/redis.js';
import type { Logger } from 'pino';
import type { RedisKeys } from '../common/keys.js';

export type AuditKind = 'page' | 'notify' | 'workflow';

export interface AuditEntry {
  /** ISO time the step finished (or was handed over, for a notification). */
  readonly at: string;
  readonly node: string;
  readonly kind: AuditKind;
  /** `acknowledge`, `escalate`, `note`; a notification's message kind (`acknowledged`, `would_have`...). */
  readonly action: string;
  readonly ok: boolean;
  readonly latency_ms?: number;
  readonly error?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Entries kept per event at most (a flapping page must not grow one list without bound). */
export const MAX_AUDIT_ENTRIES = 200;

export class AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly retentionMs: number,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  /** Appends an entry to the event's trail; never rejects. */
  async append(eventId: string, entry: AuditEntry): Promise<void> {
    await this.appendAll(eventId, [entry]);
  }

  /** Appends entries to the event's trail in one round trip, in order; never rejects. */
  async appendAll(eventId: string, entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const key = this.keys.audit(eventId);
    try {
      const multi = this.redis
        .multi()
        .rpush(key, ...entries.map((e) => JSON.stringify(e)))
        .ltrim(key, -MAX_AUDIT_ENTRIES, -1);
      if (this.retentionMs > 0) multi.pexpire(key, this.retentionMs);
      await multi.exec();
    } catch (error) {
      this.log.warn({ err: error, event: eventId, entries }, 'audit entries could not be written');
    }
  }

  async list(eventId: string): Promise<AuditEntry[]> {
    return readEntries(this.redis, this.keys, eventId);
  }
}

/** The event's entries, oldest first; lines that are not JSON are skipped. */
export async function readEntries(
  redis: RedisClient,
  keys: RedisKeys,
  eventId: string,
): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for (const text of await redis.lrange(keys.audit(eventId), 0, -1)) {
    try {
      entries.push(JSON.parse(text) as AuditEntry);
    } catch {
      // an unreadable entry is left out; the others still tell the story
    }
  }
  return entries;
}
