import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LzError } from '../common/errors.js';
import { killOnExit } from './orphans.js';
import { freePort } from './ports.js';

/** Options of {@link startKinesisLocal}. */
export interface KinesisLocalOptions {
  /**
   * Plain-HTTP port on 127.0.0.1.
   * @defaultValue a free port in [10000, 32768)
   */
  port?: number;
  /**
   * Directory where kinesis-local keeps its streams (every second) and reloads them from on start,
   * so that data survives a restart.
   * @defaultValue none: everything is in memory and lost on stop
   */
  persistPath?: string;
}

/** A kinesis-local (kinesis-mock) child process on loopback. */
export interface KinesisLocalProcess {
  /** `http://127.0.0.1:PORT`, the plain-HTTP endpoint to give the Kinesis client. */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /**
   * SIGTERM, SIGKILL after 3 s; resolves once the process has exited. Safe to call twice. Destroy
   * Kinesis clients first (`client.destroy()`): on SIGTERM kinesis-local waits for idle keep-alive
   * connections to time out (~4 s), so an open client costs the full 3 s and a SIGKILL.
   */
  stop(): Promise<void>;
}

// Below the ephemeral range: STACK-NOTES saw a port from that range race with a client socket.
const PORTS_BELOW = 32_768;
// Ready in ~0.6 s alone; a 2-core machine running the suite (several of these at once) is slower.
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;
const STOP_GRACE_MS = 3_000;
const OUTPUT_TAIL_CHARS = 4_000;

/**
 * kinesis-local listens on every interface and has no setting for that; this preload makes every
 * TCP `listen` in the process bind loopback. It handles the forms kinesis-local uses
 * (`listen(port, cb)` and `listen(port, host, cb)`) and the options-object form.
 *
 * It lives here as a string written to a temp dir at start rather than as a `.cjs` file beside this
 * module: `tsc` does not copy `.cjs` files into `dist/`, so a file in `src/sim` would be missing
 * when this runs compiled (`npm start`), and a string needs no build step or path arithmetic.
 */
const LOOPBACK_PRELOAD = `'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
  const rest = callback === undefined ? [] : [callback];
  if (first === undefined || typeof first === 'function') {
    return listen.call(this, { port: 0, host: '127.0.0.1' }, ...rest);
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\\d+$/.test(first))) {
    return listen.call(this, { port: Number(first), host: '127.0.0.1' }, ...rest);
  }
  if (typeof first === 'object' && first !== null && first.path === undefined && first.fd === undefined
      && first._handle === undefined && first.handle === undefined) {
    return listen.call(this, { ...first, host: '127.0.0.1' }, ...args.slice(1));
  }
  return listen.apply(this, args); // a Unix socket path or an inherited handle: not TCP
};
`;

/** Codes of the kinesis-local launcher. */
export const KinesisLocalErrorCodes = {
  /** The `kinesis-local` package is not installed (a production install: `npm ci --omit=dev`). */
  MISSING: 'LZ_ERR_SIM_KINESIS_LOCAL_MISSING',
} as const;

/**
 * Where the `kinesis-local` package is installed. It is a dev dependency: only `lazarus start` (the
 * local demo) and the tests need it, and a production install (`npm ci --omit=dev`, the container
 * image) leaves it out, so say what is missing instead of a bare MODULE_NOT_FOUND.
 */
function kinesisLocalDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('kinesis-local/package.json'));
  } catch (error) {
    throw new LzError(
      KinesisLocalErrorCodes.MISSING,
      'the kinesis-local package is not installed: it is a dev dependency, which a production install ' +
        '(npm ci --omit=dev) leaves out; `lazarus start` runs the local demo and needs a full `npm install`',
      { cause: error },
    );
  }
}

/**
 * Starts kinesis-local on 127.0.0.1 and resolves once `GET /healthcheck` answers 200. Streams are
 * created with the SDK (see `ensureStream`); CreateStream / SplitShard take 500 ms to settle.
 */
export async function startKinesisLocal(options: KinesisLocalOptions = {}): Promise<KinesisLocalProcess> {
  const port = options.port ?? (await freePort({ below: PORTS_BELOW }));
  // Nothing of ours talks TLS, but kinesis-local always opens its TLS port as well.
  const tlsPort = await freePort({ below: PORTS_BELOW });
  const packageDir = kinesisLocalDir();
  const dir = await mkdtemp(join(tmpdir(), 'lazarus-kinesis-'));
  const preload = join(dir, 'loopback-preload.cjs');
  await writeFile(preload, LOOPBACK_PRELOAD);

  // A clean environment: NODE_OPTIONS, AWS_* or INITIALIZE_STREAMS from the caller's shell would
  // change what the emulator does.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    KINESIS_MOCK_PLAIN_PORT: String(port),
    KINESIS_MOCK_TLS_PORT: String(tlsPort),
    // It crashes when this is relative (it resolves it against its cwd).
    KINESIS_MOCK_CERT_PATH: join(packageDir, 'server.json'),
    AWS_REGION: 'us-east-1',
    LOG_LEVEL: 'WARN',
    SHOULD_PERSIST_DATA: String(options.persistPath !== undefined),
  };
  if (options.persistPath !== undefined) {
    env['PERSIST_PATH'] = resolve(options.persistPath);
    env['PERSIST_INTERVAL'] = '1s';
    env['LOAD_DATA_IF_EXISTS'] = 'true';
  }
  const child = spawn(process.execPath, ['-r', preload, join(packageDir, 'main.js')], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = new KinesisLocalServer(port, child, dir);
  await server.waitReady();
  return server;
}

class KinesisLocalServer implements KinesisLocalProcess {
  readonly endpoint: string;
  readonly pid: number;
  #exited: Promise<void>;
  #exit: string | undefined;
  #spawnError: Error | undefined;
  #output = '';

  constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
    this.pid = child.pid ?? -1;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = signal === null ? `exit code ${code}` : `signal ${signal}`;
        resolve();
      });
      child.once('error', (error) => {
        this.#spawnError = error;
        resolve();
      });
    });
    // Keep both streams drained (a full pipe would block it) and their tail for error messages.
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.#output = (this.#output + chunk).slice(-OUTPUT_TAIL_CHARS);
      });
    }
    killOnExit(child);
  }

  async waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.#spawnError !== undefined || this.#exit !== undefined) {
        await this.stop();
        throw new Error(
          `kinesis-local on port ${this.port} ` +
            (this.#spawnError === undefined ? `exited (${this.#exit})` : 'could not be started') +
            ` before it was ready:\n${this.#output}`,
          { cause: this.#spawnError },
        );
      }
      if (await healthy(this.endpoint)) {
        return;
      }
      if (Date.now() >= deadline) {
        await this.stop();
        throw new Error(
          `kinesis-local on port ${this.port} did not answer /healthcheck within ${READY_TIMEOUT_MS} ms:\n` +
            this.#output,
        );
      }
      await delay(POLL_MS);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null && this.#spawnError === undefined) {
      child.kill('SIGTERM');
      const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.#exited;
      clearTimeout(escalate);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Whether `GET /healthcheck` answers 200. Over a connection closed after the answer: kinesis-local
 * waits on shutdown until idle keep-alive connections time out (~4 s), and fetch would keep one.
 */
function healthy(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get(`${endpoint}/healthcheck`, { agent: false, timeout: 1_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false)); // not listening yet
  });
}
