/**
 * The opaque cursors of the audit listings. A cursor names a position in an index, not an offset:
 * decisions written while someone pages (new ones at the top, a late one with an older time) neither
 * shift the pages nor repeat an entry.
 *
 * - decisions (`k: 'd'`): the last entry looked at, as its score (decision time, ms) and member
 *   (event id). The next page starts strictly after it in the index's newest-first order
 *   (score descending, then member descending, as Redis orders equal scores).
 * - rejected records (`k: 'r'`): the list is pushed at its head, so a position is the head offset
 *   of the next record plus the identity (`shard:sequence[:sub-sequence]`) of the last one looked at; records
 *   pushed since shift it right, and the identity finds it again.
 *
 * Encoded as base64url JSON: opaque to clients, readable by an operator who decodes one by hand.
 */
import { LzError } from '../common/errors.js';
import { AuditErrorCodes } from './errors.js';

export { AuditErrorCodes };

export interface DecisionCursor {
  readonly k: 'd';
  /** Score (decision time, epoch ms) of the last entry looked at. */
  readonly s: number;
  /** Member (event id) of the last entry looked at. */
  readonly m: string;
}

export interface RejectedCursor {
  readonly k: 'r';
  /** Head offset of the next record when the cursor was made. */
  readonly o: number;
  /** `shard:sequence` (`:sub-sequence` for a user record of a KPL aggregate) of the last record looked at. */
  readonly id: string;
}

export type Cursor = DecisionCursor | RejectedCursor;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

/** Decodes a cursor of the kind `kind`; throws `LZ_ERR_AUDIT_BAD_CURSOR` for anything else. */
export function decodeCursor<K extends Cursor['k']>(text: string, kind: K): Extract<Cursor, { k: K }> {
  let value: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,2048}$/.test(text)) throw new Error('not base64url');
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw badCursor('the cursor is not one this API handed out');
  }
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || v['k'] !== kind) {
    throw badCursor(
      kind === 'd'
        ? 'the cursor belongs to the rejected-records listing, not to the events'
        : 'the cursor belongs to the events listing, not to the rejected records',
    );
  }
  if (kind === 'd' && Number.isFinite(v['s']) && typeof v['m'] === 'string') {
    return { k: 'd', s: v['s'] as number, m: v['m'] } as Extract<Cursor, { k: K }>;
  }
  if (kind === 'r' && Number.isInteger(v['o']) && (v['o'] as number) >= 0 && typeof v['id'] === 'string') {
    return { k: 'r', o: v['o'] as number, id: v['id'] } as Extract<Cursor, { k: K }>;
  }
  throw badCursor('the cursor is not one this API handed out');
}

function badCursor(message: string): LzError {
  return new LzError(AuditErrorCodes.BAD_CURSOR, message);
}
