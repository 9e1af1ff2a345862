/**
 * Local stand-ins for where notifications go: a Slack incoming-webhook receiver (HTTP) and an SMTP
 * server (smtp-server), both on loopback, free ports, recording what they receive.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A Slack incoming-webhook stand-in: records every POST; answers `failures` 500s first per path. */
export class SlackReceiver {
  readonly posts: { path: string; body: unknown }[] = [];
  failures = new Map<string, number>();
  readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const left = this.failures.get(path) ?? 0;
      if (left > 0) {
        this.failures.set(path, left - 1);
        res.writeHead(500).end('internal_error');
        return;
      }
      if (path === '/gone') {
        res.writeHead(404).end('no_service');
        return;
      }
      this.posts.push({ path, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The texts posted to `path`. */
  texts(path: string): string[] {
    return this.posts.filter((p) => p.path === path).map((p) => (p.body as { text: string }).text);
  }
}

export interface Mail {
  readonly from: string;
  readonly to: string[];
  readonly raw: string;
}

/** An SMTP server without TLS or AUTH that keeps every message. */
export class MailReceiver {
  readonly mails: Mail[] = [];
  port = 0;
  private readonly smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        this.mails.push({
          from: mailFrom === false ? '' : mailFrom.address,
          to: rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.smtp.listen(0, '127.0.0.1', resolve);
    });
    // @types/smtp-server's `server` does not resolve (it reaches into nodemailer's pre-10 `lib/` paths).
    const listener = (this.smtp as unknown as { server: NetServer }).server;
    this.port = (listener.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.smtp.close(() => resolve()));
  }
}

/** Unfolded headers and the decoded (quoted-printable) body of a raw message. */
export function readMail(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const line of raw
    .slice(0, split)
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.slice(split + 4);
  if (/quoted-printable/i.test(headers.get('content-transfer-encoding') ?? '')) {
    const bytes = body
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    body = Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}
