import { createServer } from 'node:net';

/** Options of {@link freePort}. */
export interface FreePortOptions {
  /**
   * Pick the port at random in [10000, below) instead of letting the kernel choose. kinesis-local
   * must get a port below the ephemeral range (32768 on Linux): a port the kernel hands out for
   * port 0 can also be handed to a client socket of ours, and once one of those raced with the
   * server's listen.
   * @defaultValue the kernel's choice (an ephemeral port)
   */
  below?: number;
  /** The loopback address to find it free on. @defaultValue `127.0.0.1` */
  host?: '127.0.0.1' | '::1';
}

const LOWEST = 10_000;
const ATTEMPTS = 200;

/**
 * Ports this process handed out already. The probe closes its socket before returning, so two calls
 * in a row (kinesis-local wants a plain and a TLS port) could get the same port otherwise.
 */
const handedOut = new Set<number>();

/**
 * A TCP port that is free on loopback (127.0.0.1, or `host`) right now. Free only until someone binds it: start the server
 * soon, and expect (rarely) that it fails because another process was faster.
 */
export async function freePort(options: FreePortOptions = {}): Promise<number> {
  const { below } = options;
  const host = options.host ?? '127.0.0.1';
  if (below !== undefined && (!Number.isInteger(below) || below <= LOWEST || below > 65_536)) {
    throw new RangeError(`freePort: below must be an integer in (${LOWEST}, 65536], got ${below}`);
  }
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const wanted = below === undefined ? 0 : LOWEST + Math.floor(Math.random() * (below - LOWEST));
    if (handedOut.has(wanted)) {
      continue;
    }
    const port = await probe(wanted, host);
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(
    `freePort: no free port on ${host} after ${ATTEMPTS} attempts` +
      (below === undefined ? '' : ` in [${LOWEST}, ${below})`),
  );
}

/** Binds `port` (0: any) on loopback and closes again; the bound port, or undefined when taken. */
function probe(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
        resolve(undefined);
      } else {
        reject(error);
      }
    });
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}
