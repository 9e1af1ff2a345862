/**
 * Reads the audit trail from Redis, from any node: the event list (the `decisions` index, newest
 * first), an event's whole trace (its decision record and its workflow run with every step), and the
 * records that were rejected as not being events.
 *
 * Filters other than time are not indexed (the records are written by the pipeline, one key per
 * event): a page reads the index in chunks, loads the records and keeps those that match. To keep a
 * rare filter from reading the whole history in one request, a call looks at no more than `scanCap`
 * entries; it then returns what it found with a cursor to go on from, possibly with fewer items than
 * asked (even none). A client pages until there is no `next`.
 */
import type { RedisClient } from '../common/redis.js';
import type { RedisKeys } from '../common/keys.js';
import type { DecisionRecord } from '../records/decision.js';
import type { RejectedRecord } from '../records/rejected.js';
import { RedisRunStore } from '../workflow/redis-store.js';
import type { RunState, RunStatus } from '../workflow/types.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { readEntries } from './log.js';
import type { AuditEntry } from './log.js';
import { buildTimeline } from './timeline.js';
import type { TimelineEntry } from './timeline.js';
import type { RejectedCursor } from './cursor.js';
import { rejectedId, summarizeDecision, summarizeRejected } from './summary.js';
import type { EventStatus, EventSummary } from './summary.js';

/** @defaultValue 50 */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export interface EventFilters {
  readonly service?: string;
  /** Matches the event's `host`, or its `resource` when it names no host. */
  readonly host?: string;
  readonly status?: EventStatus;
  /** An escalation reason (`rate_limited`); for rejected records, the parse error's code. */
  readonly reason?: string;
  /** Decided at or after (epoch ms). */
  readonly since?: number;
  /** Decided at or before (epoch ms). */
  readonly until?: number;
  /** Items per page, 1 to {@link MAX_LIMIT}. @defaultValue {@link DEFAULT_LIMIT} */
  readonly limit?: number;
  /** `next` of the previous page. */
  readonly cursor?: string;
}

export interface EventPage {
  readonly items: EventSummary[];
  /** Absent: nothing older is left. Present: call again with it (the page may be short, even empty). */
  readonly next?: string;
  /** Index entries looked at for this page. */
  readonly scanned: number;
  /**
   * On the first page of a list of decisions: how many records were rejected in its period (its
   * `since`/`until`; all kept, without them): not events, or sensors' alerts that could not be
   * mapped. Not zero is worth a look (`status=rejected` lists them).
   */
  readonly rejected_in_period?: number;
}

export interface EventTrace {
  readonly decision: DecisionRecord;
  /** The event's workflow run (`run-<event id>`) with each step's state, when one was started. */
  readonly run: RunState | undefined;
  /** Page calls and notifications after the decision, oldest first. */
  readonly audit: readonly AuditEntry[];
  /** All of the above as one story, in order. */
  readonly timeline: readonly TimelineEntry[];
}

export interface RejectedPage {
  readonly items: RejectedRecord[];
  readonly next?: string;
  readonly scanned: number;
}

export interface AuditReaderOptions {
  /** Entries looked at per call at most. @defaultValue 2000 */
  readonly scanCap?: number;
  /** Entries read per Redis round trip. @defaultValue 200 */
  readonly chunk?: number;
}

/** The run id the pipeline gives an event's workflow run. */
export function runIdOf(eventId: string): string {
  return `run-${eventId}`;
}

interface Row {
  readonly score: number;
  readonly member: string;
}

export class AuditReader {
  private readonly runs: RedisRunStore;
  private readonly scanCap: number;
  private readonly chunk: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    options: AuditReaderOptions = {},
  ) {
    this.runs = new RedisRunStore(redis, keys);
    this.chunk = Math.max(1, options.chunk ?? 200);
    this.scanCap = Math.max(1, options.scanCap ?? 2000);
  }

  /** Events newest first (by decision time), filtered; rejected records with `status: 'rejected'`. */
  async list(filters: EventFilters = {}): Promise<EventPage> {
    const limit = clampLimit(filters.limit);
    if (filters.status === 'rejected') {
      const cursor = filters.cursor === undefined ? undefined : decodeCursor(filters.cursor, 'r');
      const page = await this.scanRejected(limit, cursor, (r) => matchesRejected(r, filters));
      return { ...page, items: page.items.map((r) => summarizeRejected(r)) };
    }
    const page = await this.listDecisions(filters, limit);
    if (filters.cursor !== undefined) return page;
    return { ...page, rejected_in_period: await this.rejectedCount(filters.since, filters.until) };
  }

  /** Records rejected between `since` and `until` (epoch ms; open ends: all kept). */
  async rejectedCount(since?: number, until?: number): Promise<number> {
    return this.redis.zcount(
      this.keys.rejectedTimes,
      since === undefined ? '-inf' : String(since),
      until === undefined ? '+inf' : String(until),
    );
  }

  /** The event's decision record and its workflow run; `undefined` when it has no decision (yet). */
  async trace(eventId: string): Promise<EventTrace | undefined> {
    const [text, run, audit] = await Promise.all([
      this.redis.get(this.keys.decision(eventId)),
      this.runs.load(runIdOf(eventId)),
      readEntries(this.redis, this.keys, eventId),
    ]);
    if (text === null) return undefined;
    const decision = JSON.parse(text) as DecisionRecord;
    return { decision, run, audit, timeline: buildTimeline(decision, run, audit) };
  }

  /** Rejected records as they are stored (raw bytes, errors), newest first. */
  async rejected(options: { limit?: number; cursor?: string } = {}): Promise<RejectedPage> {
    const cursor = options.cursor === undefined ? undefined : decodeCursor(options.cursor, 'r');
    return this.scanRejected(clampLimit(options.limit), cursor, () => true);
  }

  /** The rejected record listed as `id` (`rejected:<shard>:<sequence>[:<sub-sequence>]`), among the newest `scanCap`. */
  async findRejected(id: string): Promise<RejectedRecord | undefined> {
    let found: RejectedRecord | undefined;
    await this.scanRejected(1, undefined, (r) => {
      if (rejectedId(r) === id) found = r;
      return found !== undefined;
    });
    return found;
  }

  private async listDecisions(f: EventFilters, limit: number): Promise<EventPage> {
    const cursor = f.cursor === undefined ? undefined : decodeCursor(f.cursor, 'd');
    const min = f.since === undefined ? '-inf' : String(f.since);
    // The position: entries strictly after (s, m) in newest-first order are still to be looked at;
    // with no `m`, every entry at or below `s`.
    let s = cursor?.s ?? f.until ?? Infinity;
    let m = cursor?.m;
    if (cursor !== undefined && f.until !== undefined && f.until < cursor.s) {
      s = f.until; // the filter moved below the cursor: start at the filter
      m = undefined;
    }
    // Entries at score `s` already looked at: they come first when reading from `s` again.
    let skip = 0;
    const matched: DecisionRecord[] = [];
    let scanned = 0;
    let more = true;
    const selective =
      f.service !== undefined || f.host !== undefined || f.status !== undefined || f.reason !== undefined;

    while (matched.length < limit && scanned < this.scanCap) {
      // Unfiltered, one entry beyond the page tells whether there is a next page.
      const count = selective ? this.chunk : Math.min(this.chunk, limit - matched.length + 1);
      const reply = await this.redis.zrevrangebyscore(
        this.keys.decisions,
        s === Infinity ? '+inf' : String(s),
        min,
        'WITHSCORES',
        'LIMIT',
        skip,
        count,
      );
      const rows = pairs(reply);
      if (rows.length === 0) {
        more = false;
        break;
      }
      const fresh: Row[] = [];
      for (const row of rows) {
        // At or before the position (looked at on an earlier page, or earlier in this one).
        if (
          m !== undefined &&
          row.score === s &&
          Buffer.compare(Buffer.from(row.member), Buffer.from(m)) >= 0
        )
          skip++;
        else fresh.push(row);
      }
      const texts =
        fresh.length === 0 ? [] : await this.redis.mget(fresh.map((r) => this.keys.decision(r.member)));
      let taken = 0;
      for (const [i, row] of fresh.entries()) {
        if (matched.length >= limit || scanned >= this.scanCap) break;
        if (row.score !== s) {
          s = row.score;
          skip = 0;
        }
        m = row.member;
        skip++;
        scanned++;
        taken++;
        // Absent: the record outlived its retention while the index entry did not; not listed.
        const record = parseRecord(texts[i]);
        if (record !== undefined && matchesDecision(record, f)) matched.push(record);
      }
      if (taken === fresh.length && rows.length < count) {
        more = false;
        break;
      }
    }
    const items = await this.withRunStatus(matched);
    return {
      items,
      ...(more && m !== undefined ? { next: encodeCursor({ k: 'd', s, m }) } : {}),
      scanned,
    };
  }

  private async withRunStatus(records: readonly DecisionRecord[]): Promise<EventSummary[]> {
    const acted = records.filter((r) => r.decision === 'act');
    const status = new Map<string, RunStatus>();
    if (acted.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const r of acted) pipeline.hget(this.keys.run(runIdOf(r.event_id)), 'run');
      const replies = (await pipeline.exec()) ?? [];
      acted.forEach((r, i) => {
        const [error, text] = replies[i] ?? [null, null];
        if (error !== null || typeof text !== 'string') return;
        try {
          status.set(r.event_id, (JSON.parse(text) as { status: RunStatus }).status);
        } catch {
          // a run that cannot be read is listed without its status; its trace shows the problem
        }
      });
    }
    return records.map((r) => summarizeDecision(r, status.get(r.event_id)));
  }

  /**
   * Reads the rejected list from the cursor's position (records pushed since are skipped by finding
   * the last one looked at again), keeping those `accept` takes, until `limit` or `scanCap`.
   */
  private async scanRejected(
    limit: number,
    cursor: RejectedCursor | undefined,
    accept: (r: RejectedRecord) => boolean,
  ): Promise<RejectedPage> {
    let offset = cursor === undefined ? 0 : await this.relocate(cursor);
    if (offset < 0) return { items: [], scanned: 0 };
    const items: RejectedRecord[] = [];
    let scanned = 0;
    let lastId = cursor?.id;
    let more = true;
    while (items.length < limit && scanned < this.scanCap) {
      const texts = await this.redis.lrange(this.keys.rejected, offset, offset + this.chunk - 1);
      let taken = 0;
      for (const text of texts) {
        if (items.length >= limit || scanned >= this.scanCap) break;
        offset++;
        scanned++;
        taken++;
        const record = parseRejected(text);
        if (record === undefined) continue;
        lastId = identity(record);
        if (accept(record)) items.push(record);
      }
      if (taken === texts.length && texts.length < this.chunk) {
        more = false;
        break;
      }
    }
    return {
      items,
      ...(more && lastId !== undefined ? { next: encodeCursor({ k: 'r', o: offset, id: lastId }) } : {}),
      scanned,
    };
  }

  /**
   * Where to go on from a rejected cursor: just after its record, which records pushed since have
   * moved towards the tail. -1 when the list ends before it (trimmed away: nothing older is left);
   * the cursor's own offset when it is not found within `scanCap` (more was pushed than that since:
   * a few records may then be listed twice, none is missed).
   */
  private async relocate(cursor: RejectedCursor): Promise<number> {
    let index = Math.max(0, cursor.o - 1);
    const end = index + this.scanCap;
    while (index < end) {
      const texts = await this.redis.lrange(this.keys.rejected, index, index + this.chunk - 1);
      for (const text of texts) {
        const record = parseRejected(text);
        index++;
        if (record !== undefined && identity(record) === cursor.id) return index;
      }
      if (texts.length < this.chunk) return -1;
    }
    return cursor.o;
  }
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

function matchesDecision(d: DecisionRecord, f: EventFilters): boolean {
  return (
    (f.service === undefined || d.service === f.service) &&
    (f.host === undefined || (d.host ?? d.event.resource) === f.host) &&
    (f.status === undefined || d.decision === f.status) &&
    (f.reason === undefined || d.reason === f.reason)
  );
}

function matchesRejected(r: RejectedRecord, f: EventFilters): boolean {
  const at = Date.parse(r.at);
  if (f.since !== undefined && !(at >= f.since)) return false;
  if (f.until !== undefined && !(at <= f.until)) return false;
  if (f.reason !== undefined && r.code !== f.reason) return false;
  if (f.service === undefined && f.host === undefined) return true;
  const s = summarizeRejected(r);
  return (
    (f.service === undefined || s.service === f.service) &&
    (f.host === undefined || (s.host ?? s.resource) === f.host)
  );
}

/** Unique per rejected record: user records of one KPL aggregate share a sequence number. */
function identity(r: RejectedRecord): string {
  return rejectedId(r).slice('rejected:'.length);
}

function pairs(reply: readonly string[]): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    rows.push({ member: reply[i] ?? '', score: Number(reply[i + 1]) });
  }
  return rows;
}

function parseRecord(text: string | null | undefined): DecisionRecord | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text) as DecisionRecord;
  } catch {
    return undefined;
  }
}

function parseRejected(text: string): RejectedRecord | undefined {
  try {
    return JSON.parse(text) as RejectedRecord;
  } catch {
    return undefined;
  }
}
