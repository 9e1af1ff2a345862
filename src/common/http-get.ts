/**
 * One GET over HTTP or HTTPS, with node:http(s) rather than `fetch`: Node's `fetch` cannot be told
 * which CA to trust, and a node's REST API over `api.tls` usually has a certificate from the
 * region's own CA. Used by the CLI (`lazarus events`, `lazarus event`) and the local stack.
 */
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpGetOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The CA certificates (PEM) an https URL's certificate must chain to, instead of Node's own list
   * (its bundled roots and `NODE_EXTRA_CA_CERTS`). @defaultValue Node's own list
   */
  readonly ca?: string | Buffer;
  /** The whole request, connection and TLS handshake included. */
  readonly timeoutMs: number;
  /** The most bytes of the body kept. @defaultValue 16 MiB */
  readonly maxBytes?: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

/** A GET that got no answer: `code` is Node's (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, `ETIMEDOUT`, …). */
export class HttpGetError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpGetError';
  }
}

/** Resolves with the status and body of any answer (4xx and 5xx included); rejects when there is none. */
export function httpGet(url: string, options: HttpGetOptions): Promise<HttpAnswer> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  if (!https && target.protocol !== 'http:')
    return Promise.reject(new HttpGetError(`${url}: not an http or https URL`, 'ERR_INVALID_URL'));
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const onAnswer = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size <= maxBytes) chunks.push(chunk);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    };
    // agent: false: one connection, closed after the answer, so that a command exits at once.
    const common = { method: 'GET', headers: { ...options.headers }, agent: false } as const;
    const req: ClientRequest = https
      ? httpsRequest(target, { ...common, ...(options.ca === undefined ? {} : { ca: options.ca }) }, onAnswer)
      : httpRequest(target, common, onAnswer);
    function fail(error: Error): void {
      clearTimeout(timer);
      const code = (error as NodeJS.ErrnoException).code;
      reject(error instanceof HttpGetError ? error : new HttpGetError(error.message, code, { cause: error }));
    }
    const timer = setTimeout(() => {
      req.destroy(new HttpGetError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT'));
    }, options.timeoutMs);
    req.on('error', fail);
    req.end();
  });
}
