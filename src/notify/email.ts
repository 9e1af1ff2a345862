/**
 * Email over SMTP with nodemailer. One connection per message rather than a pool: notifications come
 * a few a minute, and a pool's idle connections would have to be closed before a node can exit.
 * Without TLS when told so (`startTls: false`), for a local relay or the SMTP server a test starts;
 * otherwise STARTTLS when the server offers it.
 */
import { createTransport, type Transporter } from 'nodemailer';
import { headline, type Channel, type OutgoingMessage } from './channel.js';
import { NotifyError, NotifyErrorCodes } from './errors.js';

export interface EmailChannelOptions {
  readonly host: string;
  readonly port: number;
  /** The sender, e.g. `Lazarus <lazarus@example.com>`. */
  readonly from: string;
  /** TLS from the first byte (port 465). @defaultValue `false` */
  readonly secure?: boolean;
  /** Upgrade with STARTTLS when offered; `false` for a local relay without TLS. @defaultValue `true` */
  readonly startTls?: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
  /** Connection, greeting and idle-socket timeout of one delivery. @defaultValue `10000` */
  readonly timeoutMs?: number;
  /** @defaultValue `'[Lazarus] '` */
  readonly subjectPrefix?: string;
}

export class EmailChannel implements Channel {
  readonly kind = 'email' as const;
  readonly #transport: Transporter;
  readonly #from: string;
  readonly #prefix: string;

  constructor(options: EmailChannelOptions) {
    const timeout = options.timeoutMs ?? 10_000;
    this.#transport = createTransport({
      host: options.host,
      port: options.port,
      secure: options.secure ?? false,
      ignoreTLS: options.startTls === false,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      ...(options.auth === undefined ? {} : { auth: { user: options.auth.user, pass: options.auth.pass } }),
    });
    this.#from = options.from;
    this.#prefix = options.subjectPrefix ?? '[Lazarus] ';
  }

  /** @param target - the recipient's address */
  async deliver(target: string, message: OutgoingMessage, signal: AbortSignal): Promise<void> {
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: target,
        subject: `${this.#prefix}${headline(message.text)}`,
        text: message.text,
        headers: { 'X-Lazarus-Service': message.service },
        signal,
      });
    } catch (error) {
      const e = error as { message?: unknown; permanent?: unknown; responseCode?: unknown };
      // A permanent SMTP rejection (5xx: no such mailbox, relay denied) will be rejected again.
      const permanent = e.permanent === true;
      throw new NotifyError(
        NotifyErrorCodes.DELIVERY_FAILED,
        `email to ${target}: ${typeof e.message === 'string' ? e.message : String(error)}`,
        { retryable: !permanent, cause: error },
      );
    }
  }

  close(): void {
    this.#transport.close();
  }
}
