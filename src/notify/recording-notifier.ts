/**
 * A stand-in for the notification module until it lands: it sends nothing. It records every message
 * a workflow sends so that workflows, the simulator and tests can assert on who would have been told.
 */
import type { NotifierPort } from './port.js';

export interface SentMessage {
  readonly text: string;
  readonly group?: string;
  readonly channels?: readonly string[];
  readonly service: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

export class RecordingNotifier implements NotifierPort {
  private readonly recorded: SentMessage[] = [];

  /** @param now - the clock of `at`; a test or the simulator passes its own */
  constructor(private readonly now: () => number = Date.now) {}

  /** Every message so far, oldest first (a copy). */
  messages(): SentMessage[] {
    return [...this.recorded];
  }

  /**
   * `sent` counts the recipients: each channel, plus one for a group. With neither, the message goes
   * to the service's own channel, which counts as one.
   */
  send(
    message: {
      readonly text: string;
      readonly group?: string;
      readonly channels?: readonly string[];
      readonly service: string;
    },
    signal: AbortSignal,
  ): Promise<{ sent: number }> {
    if (signal.aborted)
      return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const { text, group, channels, service } = message;
    this.recorded.push(
      Object.freeze({
        text,
        service,
        ...(group === undefined ? {} : { group }),
        ...(channels === undefined ? {} : { channels: Object.freeze([...channels]) }),
        at: this.now(),
      }),
    );
    const recipients = (channels?.length ?? 0) + (group === undefined ? 0 : 1);
    return Promise.resolve({ sent: group === undefined && channels === undefined ? 1 : recipients });
  }
}
