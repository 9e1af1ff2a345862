import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { killOnExit } from './orphans.js';
import { freePort } from './ports.js';

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /**
   * Port on 127.0.0.1.
   * @defaultValue a free ephemeral port
   */
  port?: number;
  /** More arguments for `redis-server` (`--cluster-enabled yes`, `--replicaof 127.0.0.1 6379`, `--sentinel`). */
  args?: readonly string[];
  /** Start it with `--requirepass`; the readiness check authenticates with it. */
  password?: string;
  /** A configuration file's text, written to the server's directory and given first (a sentinel needs one it can rewrite). */
  configFile?: string;
}

/** A private `redis-server` child process on loopback, without persistence. */
export interface RedisProcess {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Pid of the current server process; a new one after {@link RedisProcess.restart}. */
  readonly pid: number;
  /** SIGTERM, SIGKILL after 3 s; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Sends `signal` and returns at once: SIGKILL for a crash, SIGSTOP / SIGCONT for a frozen
   * server. Does not wait for the exit.
   */
  kill(signal: NodeJS.Signals): void;
  /** Starts a fresh, empty server on the same port (after a stop, a kill, or while running). */
  restart(): Promise<void>;
  /** The last few kilobytes the server logged (stdout and stderr), for a test's failure message. */
  readonly logTail: string;
}

const BINARY = 'redis-server';
// A 2-core machine running the whole test suite can be slow to fork; Redis itself starts in ~10 ms.
const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 25;
const STOP_GRACE_MS = 3_000;
const OUTPUT_TAIL_CHARS = 4_000;

/**
 * Starts `redis-server` on 127.0.0.1 and resolves once it answers PING. Rejects when the binary is
 * missing (with how to install it, or to use `REDIS_URL` instead) or when it never becomes ready.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  const args = [
    ...(options.args ?? []),
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
  ];
  const server = new RedisServer(
    options.port ?? (await freePort()),
    args,
    options.configFile,
    options.password,
  );
  await server.start();
  return server;
}

class RedisServer implements RedisProcess {
  readonly url: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #pid = -1;
  #dir: string | undefined;
  #output = '';

  constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[] = [],
    private readonly configFile?: string,
    private readonly password?: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  get pid(): number {
    return this.#pid;
  }

  get logTail(): string {
    return this.#output;
  }

  async start(): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'lazarus-redis-'));
    this.#dir = dir;
    this.#output = '';
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const config: string[] = [];
    if (this.configFile !== undefined) {
      await writeFile(join(dir, 'redis.conf'), this.configFile);
      config.push(join(dir, 'redis.conf'));
    }
    const child = spawn(BINARY, [...config, ...args, '--dir', dir, ...this.extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    let exit: string | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exit = signal === null ? `exit code ${code}` : `signal ${signal}`;
        resolve();
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        spawnError = error;
        resolve();
      });
    });
    // Redis logs to stdout; keep both streams drained (a full pipe would block it) and their tail
    // for error messages.
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.#output = (this.#output + chunk).slice(-OUTPUT_TAIL_CHARS);
      });
    }
    killOnExit(child);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError !== undefined) {
        await this.#cleanUp();
        throw spawnError.code === 'ENOENT' ? missingBinary(spawnError) : spawnError;
      }
      if (exit !== undefined) {
        await this.#cleanUp();
        throw new Error(
          `${BINARY} on port ${this.port} exited (${exit}) before it was ready:\n${this.#output}`,
        );
      }
      if (child.pid !== undefined && (await answersAs(this.port, child.pid, this.password))) {
        this.#pid = child.pid;
        return;
      }
      if (Date.now() >= deadline) {
        await this.stop();
        throw new Error(
          `${BINARY} on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${this.#output}`,
        );
      }
      await delay(POLL_MS);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.#child?.kill(signal);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // A frozen (SIGSTOP) server only acts on the SIGTERM once it runs again.
      child.kill('SIGCONT');
      const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.#exited;
      clearTimeout(escalate);
    }
    await this.#cleanUp();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async #cleanUp(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir !== undefined) {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function missingBinary(cause: Error): Error {
  return new Error(
    `${BINARY} is missing: it is not on PATH. Install it (Debian/Ubuntu: \`apt-get install redis-server\`), ` +
      'or set REDIS_URL to point at an existing Redis server instead of starting one.',
    { cause },
  );
}

/**
 * Whether the server on `port` answers PING and is the process `pid`. Checking the pid matters when
 * the port was taken between choosing it and starting: another Redis would answer PING while ours
 * is about to exit with "Address already in use".
 */
function answersAs(port: number, pid: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect({ host: '127.0.0.1', port });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      reply += chunk;
      // With a password, AUTH answers +OK first.
      if (password !== undefined && reply.startsWith('+OK\r\n')) reply = reply.slice(5);
      const served = /process_id:(\d+)\r\n/.exec(reply);
      if (served !== null) {
        done(reply.startsWith('+PONG\r\n') && Number(served[1]) === pid);
      } else if (reply.startsWith('-')) {
        done(false); // -LOADING and the like: not ready yet
      }
    });
    socket.once('connect', () =>
      socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}PING\r\nINFO server\r\n`),
    );
  });
}
