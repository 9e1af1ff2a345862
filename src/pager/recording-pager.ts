/**
 * A stand-in for PagerDuty until the paging module lands: it calls nothing. It records every call a
 * workflow makes and answers the way PagerDuty would, so that workflows, the simulator and tests
 * run end to end and can assert on what would have been paged.
 */
import { createHash } from 'node:crypto';
import type { PagerPort } from './port.js';

export type PagerVerb = 'acknowledge' | 'resolve' | 'escalate' | 'note';

export interface PagerCall {
  readonly verb: PagerVerb;
  readonly incidentKey: string;
  /** The resolve note, the escalation reason or the note's content. */
  readonly detail: string | undefined;
  /** Epoch milliseconds. */
  readonly at: number;
}

export class RecordingPager implements PagerPort {
  private readonly recorded: PagerCall[] = [];
  /** Escalation level per incident key; an incident starts at level 1 (the first responder). */
  private readonly levels = new Map<string, number>();
  private notes = 0;

  /** @param now - the clock of `at`; a test or the simulator passes its own */
  constructor(private readonly now: () => number = Date.now) {}

  /** Every call so far, oldest first (a copy). */
  calls(): PagerCall[] {
    return [...this.recorded];
  }

  acknowledge(incidentKey: string, signal: AbortSignal): Promise<{ incident_id: string; status: string }> {
    return this.answer('acknowledge', incidentKey, undefined, signal, () => ({
      incident_id: incidentId(incidentKey),
      status: 'acknowledged',
    }));
  }

  resolve(
    incidentKey: string,
    note: string | undefined,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; status: string }> {
    return this.answer('resolve', incidentKey, note, signal, () => ({
      incident_id: incidentId(incidentKey),
      status: 'resolved',
    }));
  }

  escalate(
    incidentKey: string,
    reason: string,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; escalation_level: number }> {
    return this.answer('escalate', incidentKey, reason, signal, () => {
      const level = (this.levels.get(incidentKey) ?? 1) + 1;
      this.levels.set(incidentKey, level);
      return { incident_id: incidentId(incidentKey), escalation_level: level };
    });
  }

  note(incidentKey: string, content: string, signal: AbortSignal): Promise<{ note_id: string }> {
    return this.answer('note', incidentKey, content, signal, () => {
      this.notes += 1;
      return { note_id: `N${String(this.notes).padStart(6, '0')}` };
    });
  }

  /** A call after the caller gave up is not made, as with a real API: it is neither recorded nor answered. */
  private answer<T>(
    verb: PagerVerb,
    incidentKey: string,
    detail: string | undefined,
    signal: AbortSignal,
    reply: () => T,
  ): Promise<T> {
    if (signal.aborted)
      return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    this.recorded.push(Object.freeze({ verb, incidentKey, detail, at: this.now() }));
    return Promise.resolve(reply());
  }
}

/** A stable, PagerDuty-looking incident id per key (`P` and six characters), so reruns agree. */
function incidentId(incidentKey: string): string {
  return `P${createHash('sha256').update(incidentKey).digest('hex').slice(0, 6).toUpperCase()}`;
}
