/**
 * The notification engine: one `send` fans a message out to its channels (Slack, email, a PagerDuty
 * note) and returns. Delivery happens in the background: a channel that is down is logged and tried
 * again with backoff, a bounded number of times, and never holds up the caller, because a decision
 * or a workflow step must not wait on a chat service.
 *
 * So `send` resolves once the message is handed over (with the number of channels it was handed to),
 * not once it is delivered; `deliveries()` says what became of each, and `flush()` waits for every
 * delivery in progress to succeed or give up (tests, and a node's shutdown before it exits).
 */
import type { Logger } from 'pino';
import type { NotifierPort } from './port.js';
import { LzError } from '../common/errors.js';
import type { Channel, ChannelAddress, ChannelKind, OutgoingMessage } from './channel.js';
import type { ChannelDirectory } from './channel-directory.js';
import { NotifyError } from './errors.js';

/** A message as `NotifierPort` takes it, plus the event's incident key for the `pagerduty` channel. */
export interface NotifyMessage {
  readonly text: string;
  readonly group?: string;
  readonly channels?: readonly string[];
  readonly service: string;
  readonly incidentKey?: string;
  /** The event the message is about: handed back with each delivery's outcome (the audit trail). */
  readonly eventId?: string;
}

export interface NotifierOptions {
  readonly directory: ChannelDirectory;
  /** The adapters; a channel whose adapter is missing is logged and skipped. */
  readonly channels: { readonly slack?: Channel; readonly email?: Channel; readonly pagerduty?: Channel };
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Attempts per delivery, the first included. @defaultValue `5` */
  readonly maxAttempts?: number;
  /** Wait after the first failure, doubled after each further one. @defaultValue `1000` */
  readonly initialBackoffMs?: number;
  /** @defaultValue `30000` */
  readonly maxBackoffMs?: number;
  /** Longest wait for one delivery attempt. @defaultValue `15000` */
  readonly attemptTimeoutMs?: number;
  /**
   * Deliveries in progress (retries included) beyond which new ones are dropped and logged: a
   * channel that is down for long must not grow memory without bound. @defaultValue `1000`
   */
  readonly maxInFlight?: number;
  /** Told how each delivery ended (delivered, failed, skipped or dropped), with its message. */
  readonly onSettled?: (record: DeliveryRecord, message: NotifyMessage) => void;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'skipped' | 'dropped';

export interface DeliveryRecord {
  /** The channel as named (`slack:#sms-oncall`). */
  readonly channel: string;
  readonly kind: ChannelKind;
  readonly service: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  /** The last failure, or why it was skipped or dropped. */
  readonly error?: string;
  /** Epoch milliseconds. */
  readonly queuedAt: number;
  readonly settledAt?: number;
}

const MAX_RECORDS = 1_000;

export class Notifier implements NotifierPort {
  readonly #options: NotifierOptions;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #records: DeliveryRecord[] = [];
  /** Aborted by close(): stops every retry wait and attempt in progress. */
  readonly #closing = new AbortController();

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  /**
   * Hands the message to each of its channels and resolves with how many took it; skipped channels
   * (no webhook for the Slack channel, no incident key for `pagerduty`, no adapter, not a channel)
   * are logged and not counted. Rejects only when `signal` has fired before the hand-over; once
   * handed over, deliveries are not tied to the caller's signal (they outlive the workflow step).
   */
  send(message: NotifyMessage, signal: AbortSignal): Promise<{ sent: number }> {
    if (signal.aborted) {
      return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }
    const { log, directory } = this.#options;
    const { addresses, problems } = directory.recipients(message);
    for (const problem of problems)
      log.warn({ service: message.service, problem }, 'notification: bad recipient');
    let sent = 0;
    for (const address of addresses) {
      if (this.#handOver(address, message)) sent += 1;
    }
    if (addresses.length === 0) {
      log.warn({ service: message.service }, 'notification: no channel to send to');
    }
    return Promise.resolve({ sent });
  }

  /** A notifier for one event: its messages carry the event's incident key (for the `pagerduty` channel). */
  forEvent(event: { readonly incidentKey?: string }): NotifierPort {
    return {
      send: (message, signal) =>
        this.send(
          event.incidentKey === undefined ? message : { ...message, incidentKey: event.incidentKey },
          signal,
        ),
    };
  }

  /** What became of recent deliveries (the newest 1 000), oldest first. */
  deliveries(): DeliveryRecord[] {
    return [...this.#records];
  }

  /** Resolves once every delivery in progress, retries included, has succeeded or given up. */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Stops retrying: deliveries still failing give up now (logged). Then waits for them to settle. */
  async close(): Promise<void> {
    this.#closing.abort(new Error('notifier closed'));
    await this.flush();
  }

  /** Starts one delivery in the background; `false` when it was skipped or dropped. */
  #handOver(address: ChannelAddress, message: NotifyMessage): boolean {
    const { channels, log, directory } = this.#options;
    const queuedAt = Date.now();
    const base = { channel: address.raw, kind: address.kind, service: message.service, queuedAt };
    const skip = (status: 'skipped' | 'dropped', why: string): false => {
      this.#record({ ...base, status, attempts: 0, error: why, settledAt: queuedAt }, message);
      log.warn({ channel: address.raw, service: message.service, why }, `notification ${status}`);
      return false;
    };
    const adapter = channels[address.kind];
    if (adapter === undefined) return skip('skipped', `no ${address.kind} channel is configured`);
    const target =
      address.kind === 'slack'
        ? directory.slackWebhook(address.channel)
        : address.kind === 'email'
          ? address.address
          : message.incidentKey;
    if (target === undefined) {
      return skip(
        'skipped',
        address.kind === 'slack'
          ? `no webhook is configured for ${address.channel}`
          : 'the message has no incident key to add a note to',
      );
    }
    if (this.#inFlight.size >= (this.#options.maxInFlight ?? 1_000)) {
      return skip('dropped', 'too many deliveries in progress');
    }
    const outgoing: OutgoingMessage = { text: message.text, service: message.service };
    const delivery = this.#deliver(adapter, target, outgoing, base, message).finally(() =>
      this.#inFlight.delete(delivery),
    );
    this.#inFlight.add(delivery);
    return true;
  }

  /** Tries, waits and tries again; never rejects (everything ends in a record and a log line). */
  async #deliver(
    adapter: Channel,
    target: string,
    message: OutgoingMessage,
    base: Omit<DeliveryRecord, 'status' | 'attempts'>,
    original: NotifyMessage,
  ): Promise<void> {
    const { log } = this.#options;
    const maxAttempts = this.#options.maxAttempts ?? 5;
    const closing = this.#closing.signal;
    let lastError = '';
    let attempts = 0;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      attempts = attempt;
      const timeout = AbortSignal.timeout(this.#options.attemptTimeoutMs ?? 15_000);
      let retryable = true;
      let hint: number | undefined;
      try {
        await adapter.deliver(target, message, AbortSignal.any([closing, timeout]));
        this.#record({ ...base, status: 'delivered', attempts: attempt, settledAt: Date.now() }, original);
        if (attempt > 1)
          log.info({ channel: base.channel, attempts: attempt }, 'notification delivered after retries');
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        if (timeout.aborted && !closing.aborted)
          lastError = `no answer within ${this.#options.attemptTimeoutMs ?? 15_000} ms`;
        retryable = error instanceof LzError ? error.retryable : true;
        if (error instanceof NotifyError) hint = error.retryAfterMs;
      }
      const last = !retryable || attempt === maxAttempts || closing.aborted;
      log.warn(
        { channel: base.channel, service: base.service, attempt, error: lastError, giving_up: last },
        'notification delivery failed',
      );
      if (last) break;
      const backoff = Math.min(
        this.#options.maxBackoffMs ?? 30_000,
        (this.#options.initialBackoffMs ?? 1_000) * 2 ** (attempt - 1),
      );
      if (!(await wait(Math.max(backoff, hint ?? 0), closing))) break;
    }
    this.#record({ ...base, status: 'failed', attempts, error: lastError, settledAt: Date.now() }, original);
    log.error(
      { channel: base.channel, service: base.service, error: lastError },
      'notification not delivered',
    );
  }

  #record(record: DeliveryRecord, message: NotifyMessage): void {
    this.#records.push(Object.freeze(record));
    if (this.#records.length > MAX_RECORDS) this.#records.shift();
    this.#options.onSettled?.(record, message);
  }
}

/**
 * Waits `ms`; `false` when `signal` (close()) cut it short. The timer keeps the process alive on
 * purpose: the retries are bounded, and a node that exits calls close(), which ends them.
 */
function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
