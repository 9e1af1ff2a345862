/** The few HTTP chores of the API, on `node:http` alone: JSON answers, capped bodies, bearer tokens. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ApiErrorCodes } from './errors.js';

/** Headers every answer carries: nothing is sniffed, nothing is framed, JSON is not cached. */
const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: ApiError, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  sendJson(res, error.status, error.body());
}

export function sendBytes(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * The request body, refused with `LZ_ERR_API_TOO_LARGE` once it is over `maxBytes`: at once when
 * `Content-Length` says so, else as soon as the bytes received pass the limit (nothing more is kept;
 * the rest is drained and the connection closed after the answer).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge(declared, maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.byteLength;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        reject(tooLarge(size, maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.once('error', (error) => {
      if (!over) reject(error);
    });
  });
}

function tooLarge(size: number, maxBytes: number): ApiError {
  return new ApiError(
    ApiErrorCodes.TOO_LARGE,
    `the request body is ${size} bytes or more; the limit is ${maxBytes} (events.max_bytes)`,
  );
}

/** Whether the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function hasBearer(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (header === undefined) return false;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (match === null) return false;
  // Digests first: equal lengths for timingSafeEqual, and no hint of the token's length.
  const given = createHash('sha256')
    .update(match[1] ?? '')
    .digest();
  const wanted = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, wanted);
}

/** `host:port` (`[::1]:8181` for IPv6) of a node's `api` address; port 0 takes any free port. */
export { parseHostPort } from '../common/host-port.js';
