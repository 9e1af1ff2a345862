/** Request bodies for the simulators' HTTP servers. */
import type { IncomingMessage } from 'node:http';

/**
 * The body as text, or `undefined` when it is over `maxBytes`. An oversized body is still read to the
 * end (and dropped) so that the client gets the 413 instead of a reset while it is still sending.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
  }
  return size > maxBytes ? undefined : Buffer.concat(chunks).toString('utf8');
}
