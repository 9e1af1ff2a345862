import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { abortedError, throwIfAborted } from './abort.js';
import type { ActionContext, ActionDefinition } from './definition.js';
import { durationInput } from './duration-input.js';
import { ActionError, ActionErrorCodes } from './errors.js';

const ACTION = 'exec';

/** @defaultValue 60 s */
const DEFAULT_TIMEOUT_MS = 60_000;
/** @defaultValue 64 KiB, for each of stdout and stderr */
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
/** Time a script gets to clean up after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** How much of stderr a failure message carries (it may end up in a page). */
const MESSAGE_STDERR_CHARS = 500;

/** Runs a script from the allow-listed directory, arguments as an argv array, never through a shell. */
export const exec: ActionDefinition = {
  name: ACTION,
  description: 'Run an allow-listed script with an argv array (no shell); output captured and size-capped.',
  inputs: {
    type: 'object',
    required: ['script'],
    additionalProperties: false,
    properties: {
      script: { type: 'string' },
      args: { type: 'array', items: { type: 'string' } },
      timeout: { type: 'string' },
      max_output_bytes: { type: 'integer', minimum: 0 },
    },
  },
  outputs: {
    type: 'object',
    properties: {
      exit_code: { type: 'integer' },
      stdout: { type: 'string' },
      stderr: { type: 'string' },
      truncated: { type: 'boolean' },
    },
  },
  run: runExec,
};

async function runExec(
  inputs: Readonly<Record<string, unknown>>,
  context: ActionContext,
): Promise<Record<string, unknown>> {
  const script = inputs.script as string;
  const args = (inputs.args as readonly string[] | undefined) ?? [];
  const timeoutMs = durationInput(ACTION, inputs, 'timeout', DEFAULT_TIMEOUT_MS);
  const maxBytes = (inputs.max_output_bytes as number | undefined) ?? DEFAULT_MAX_OUTPUT_BYTES;
  throwIfAborted(ACTION, context.signal);
  const { execDir } = context;
  if (execDir === undefined) throw refuse('no script directory is configured on this node');
  const executable = await allowListed(script, execDir);
  throwIfAborted(ACTION, context.signal);
  return runScript({ script, executable, args, cwd: execDir, timeoutMs, maxBytes, signal: context.signal });
}

function refuse(message: string): ActionError {
  return new ActionError(ActionErrorCodes.NOT_ALLOWED, `${ACTION}: ${message}`, { retryable: false });
}

/**
 * The real path of `script` when it is an executable regular file inside `execDir`, else a refusal.
 * The name is a bare file name: workflows name scripts, they do not navigate. Symlinks are resolved
 * before the containment check so that a link cannot point the allow-list elsewhere, and the
 * resolved path is what gets spawned, so swapping the link afterwards changes nothing.
 */
async function allowListed(script: string, execDir: string): Promise<string> {
  if (script === '' || script === '.' || /[/\\\0]/.test(script) || script.includes('..')) {
    throw refuse(`${JSON.stringify(script)} is not a plain script name`);
  }
  let realDir: string;
  let realScript: string;
  try {
    realDir = await realpath(execDir);
  } catch (error) {
    const message = `${ACTION}: script directory ${execDir} is unusable`;
    throw new ActionError(ActionErrorCodes.NOT_ALLOWED, message, { cause: error });
  }
  try {
    realScript = await realpath(path.join(realDir, script));
  } catch (error) {
    throw new ActionError(ActionErrorCodes.NOT_ALLOWED, `${ACTION}: no script ${JSON.stringify(script)}`, {
      cause: error,
    });
  }
  const relative = path.relative(realDir, realScript);
  if (
    relative === '' ||
    relative === '..' ||
    relative.startsWith(`..${path.sep}`) ||
    path.isAbsolute(relative)
  ) {
    throw refuse(`${JSON.stringify(script)} resolves to ${realScript}, outside ${realDir}`);
  }
  const info = await stat(realScript).catch((error: unknown) => {
    throw new ActionError(ActionErrorCodes.NOT_ALLOWED, `${ACTION}: cannot stat ${realScript}`, {
      cause: error,
    });
  });
  if (!info.isFile()) throw refuse(`${JSON.stringify(script)} is not a regular file`);
  try {
    await access(realScript, fsConstants.X_OK);
  } catch {
    throw refuse(`${JSON.stringify(script)} is not executable`);
  }
  return realScript;
}

/** Bytes of one output stream, kept up to a cap; the rest is read and dropped so the child never blocks. */
class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

interface ScriptRun {
  readonly script: string;
  readonly executable: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly signal: AbortSignal;
}

function runScript(run: ScriptRun): Promise<Record<string, unknown>> {
  const { script, signal, timeoutMs } = run;
  return new Promise((resolve, reject) => {
    // No shell, and only PATH from our environment: the controller's credentials never reach a
    // script. `detached` puts the script at the head of its own process group, so that a stop kills
    // whatever it started too (a `sleep` that would otherwise keep the pipes open).
    const child = spawn(run.executable, run.args, {
      shell: false,
      cwd: run.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const stdout = new CappedOutput(run.maxBytes);
    const stderr = new CappedOutput(run.maxBytes);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    let stopping: 'timeout' | 'abort' | undefined;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    const stopped = (): never => {
      if (stopping === 'abort') throw abortedError(ACTION, signal);
      throw new ActionError(
        ActionErrorCodes.FAILED,
        `${ACTION} ${script}: killed after its timeout of ${timeoutMs} ms`,
        { retryable: false },
      );
    };
    const exited = (code: number | null, which: NodeJS.Signals | null): Record<string, unknown> => {
      const truncated = stdout.truncated || stderr.truncated;
      if (code === 0) return { exit_code: 0, stdout: stdout.text(), stderr: stderr.text(), truncated };
      const how = code === null ? `was killed by ${which ?? 'a signal'}` : `exited with code ${code}`;
      const tail = stderr.text().trimEnd().slice(-MESSAGE_STDERR_CHARS);
      // Not retryable: a script that failed has done part of its work, and only its author knows
      // whether running it again is safe.
      throw new ActionError(
        ActionErrorCodes.FAILED,
        `${ACTION} ${script} ${how}${tail === '' ? '' : `: ${tail}`}`,
        {
          retryable: false,
        },
      );
    };
    const finish = (outcome: () => Record<string, unknown>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      try {
        resolve(outcome());
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    // Once the script is stopped and has exited, that is the end: a descendant that left its process
    // group may still hold the pipes, and waiting for `close` would wait for it.
    const endStopped = (): void => {
      child.stdout.destroy();
      child.stderr.destroy();
      finish(stopped);
    };
    const killGroup = (which: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, which);
      } catch {
        // The group is already gone.
      }
    };
    const stop = (why: 'timeout' | 'abort'): void => {
      if (stopping !== undefined || settled) return;
      stopping = why;
      killGroup('SIGTERM');
      if (hasExited()) endStopped();
      else killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = (): void => stop('abort');
    signal.addEventListener('abort', onAbort, { once: true });

    child.on('error', (error) => {
      finish(() => {
        throw new ActionError(ActionErrorCodes.FAILED, `${ACTION} ${script}: ${error.message}`, {
          retryable: false,
          cause: error,
        });
      });
    });
    child.on('exit', () => {
      if (stopping !== undefined) endStopped();
    });
    child.on('close', (code, which) =>
      finish(() => (stopping !== undefined ? stopped() : exited(code, which))),
    );
  });
}
