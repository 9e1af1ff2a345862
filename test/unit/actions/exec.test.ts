import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ActionErrorCodes } from '../../../src/actions/errors.js';
import { exec } from '../../../src/actions/exec.js';
import { waitFor } from '../../helpers/wait.js';
import { actionContext, rejectsWithActionError, runChecked } from './context.js';

const { FAILED, NOT_ALLOWED } = ActionErrorCodes;

/**
 * Whether a process is still running. A killed child whose parent died first stays a zombie until
 * init reaps it; signal 0 still reaches a zombie, so on Linux its state is read from /proc.
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!existsSync('/proc')) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

describe('exec', () => {
  let root: string;
  let dir: string;
  let outside: string;

  const script = async (name: string, body: string, mode = 0o755): Promise<void> => {
    const file = path.join(dir, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, mode);
  };
  const inDir = (overrides: Parameters<typeof actionContext>[0] = {}) =>
    actionContext({ execDir: dir, ...overrides });

  before(async () => {
    root = await realpath(await mkdtemp(path.join(tmpdir(), 'lz-exec-')));
    dir = path.join(root, 'scripts');
    outside = path.join(root, 'elsewhere');
    await mkdir(dir);
    await mkdir(outside);
    // One argument per line, NUL-terminated so that newlines inside an argument survive.
    await script('argv.sh', `for a in "$@"; do printf '%s\\0' "$a"; done`);
    await script('env.sh', 'env; pwd');
    await script('big.sh', "head -c 200000 /dev/zero | tr '\\0' o; head -c 100 /dev/zero | tr '\\0' e >&2");
    await script('fail.sh', 'echo "starting" ; echo "disk full: cannot write snapshot" >&2; exit 3');
    await script('sleepy.sh', 'sleep 30 & echo $! > "$1"; wait');
    await script('stubborn.sh', `trap '' TERM; touch "$1"; while :; do sleep 0.05; done`);
    await script('not-executable.sh', 'echo hi', 0o644);
    await mkdir(path.join(dir, 'a-directory'));
    await writeFile(path.join(outside, 'evil.sh'), '#!/bin/sh\necho escaped\n', { mode: 0o755 });
    await symlink(path.join(outside, 'evil.sh'), path.join(dir, 'escape.sh'));
    await symlink('../elsewhere/evil.sh', path.join(dir, 'relative-escape.sh'));
    await symlink(path.join(dir, 'argv.sh'), path.join(dir, 'alias.sh'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('arguments arrive verbatim, one argv entry each: no shell sees them', async () => {
    const sentinel = path.join(root, 'pwned');
    const args = [
      'plain',
      'two words',
      `; touch ${sentinel}`,
      `$(touch ${sentinel})`,
      `\`touch ${sentinel}\``,
      '; rm -rf /',
      '$(whoami)',
      '*',
      '"quoted" \'single\'',
      'line\nbreak',
      '',
    ];
    const out = await runChecked(exec, { script: 'argv.sh', args }, inDir());
    assert.equal(out.exit_code, 0);
    assert.equal(out.truncated, false);
    assert.deepEqual((out.stdout as string).split('\0').slice(0, -1), args);
    assert.equal(existsSync(sentinel), false, 'no argument was run as a command');
  });

  test('the script sees only PATH and runs in the script directory', async () => {
    process.env.LZ_TEST_SECRET = 'do-not-leak';
    try {
      const out = await runChecked(exec, { script: 'env.sh' }, inDir());
      const stdout = out.stdout as string;
      assert.match(stdout, /^PATH=/m);
      assert.doesNotMatch(stdout, /LZ_TEST_SECRET|do-not-leak/);
      assert.doesNotMatch(stdout, /^HOME=/m);
      assert.equal(stdout.trimEnd().split('\n').at(-1), dir);
    } finally {
      delete process.env.LZ_TEST_SECRET;
    }
  });

  test('a symlink inside the directory to a script inside it is allowed', async () => {
    const out = await runChecked(exec, { script: 'alias.sh', args: ['x'] }, inDir());
    assert.equal(out.stdout, 'x\0');
  });

  test('output beyond max_output_bytes is cut and flagged, and the script still runs to the end', async () => {
    const out = await runChecked(exec, { script: 'big.sh', max_output_bytes: 1000 }, inDir());
    assert.equal(out.exit_code, 0);
    assert.equal(out.stdout, 'o'.repeat(1000));
    assert.equal(out.stderr, 'e'.repeat(100), 'stderr under its own cap is whole');
    assert.equal(out.truncated, true);
  });

  test('the default cap is 64 KiB', async () => {
    const out = await runChecked(exec, { script: 'big.sh' }, inDir());
    assert.equal((out.stdout as string).length, 64 * 1024);
    assert.equal(out.truncated, true);
  });

  test('a non-zero exit fails, not retryable, with the code and the end of stderr', async () => {
    await rejectsWithActionError(exec.run({ script: 'fail.sh' }, inDir()), {
      code: FAILED,
      retryable: false,
      message: /fail\.sh exited with code 3: disk full: cannot write snapshot$/,
    });
  });

  test('at its timeout the script and what it started are killed; not retryable', async () => {
    const pidFile = path.join(root, 'sleep.pid');
    const started = Date.now();
    await rejectsWithActionError(
      exec.run({ script: 'sleepy.sh', args: [pidFile], timeout: '300ms' }, inDir()),
      {
        code: FAILED,
        retryable: false,
        message: /killed after its timeout of 300 ms/,
      },
    );
    assert.ok(Date.now() - started < 5_000);
    const sleepPid = Number(await readFile(pidFile, 'utf8'));
    assert.ok(sleepPid > 0);
    await waitFor(
      'the background sleep to be gone',
      () => Promise.resolve(running(sleepPid) ? undefined : true),
      5_000,
    );
  });

  test('a script that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const marker = path.join(root, 'stubborn-started');
    const started = Date.now();
    await rejectsWithActionError(
      exec.run({ script: 'stubborn.sh', args: [marker], timeout: '200ms' }, inDir()),
      {
        code: FAILED,
        retryable: false,
        message: /killed after its timeout/,
      },
    );
    const took = Date.now() - started;
    assert.ok(existsSync(marker), 'the script did start');
    assert.ok(took >= 2_000 && took < 6_000, `took ${took} ms: timeout, then 2 s of grace`);
  });

  test('the step signal stops a running script', async () => {
    const controller = new AbortController();
    const pidFile = path.join(root, 'abort-sleep.pid');
    const running = exec.run({ script: 'sleepy.sh', args: [pidFile] }, inDir({ signal: controller.signal }));
    await waitFor(
      'the script to start',
      () => Promise.resolve(existsSync(pidFile) ? true : undefined),
      5_000,
    );
    const started = Date.now();
    controller.abort(new Error('drain'));
    await rejectsWithActionError(running, {
      code: FAILED,
      retryable: false,
      message: /exec was aborted: drain/,
    });
    assert.ok(Date.now() - started < 3_000);
  });

  test('refused: no script directory on this node', async () => {
    await rejectsWithActionError(exec.run({ script: 'argv.sh' }, actionContext({ execDir: undefined })), {
      code: NOT_ALLOWED,
      retryable: false,
      message: /no script directory/,
    });
  });

  test('refused: names that navigate (.., separators, absolute paths)', async () => {
    for (const name of [
      '../elsewhere/evil.sh',
      '..',
      '..evil.sh',
      'sub/argv.sh',
      '/bin/sh',
      path.join(dir, 'argv.sh'),
      '',
    ]) {
      await rejectsWithActionError(exec.run({ script: name }, inDir()), {
        code: NOT_ALLOWED,
        retryable: false,
        message: /not a plain script name/,
      });
    }
  });

  test('refused: a symlink that leads out of the directory', async () => {
    for (const name of ['escape.sh', 'relative-escape.sh']) {
      await rejectsWithActionError(exec.run({ script: name }, inDir()), {
        code: NOT_ALLOWED,
        retryable: false,
        message: /outside/,
      });
    }
  });

  test('refused: a file that is not executable, a directory, a missing script', async () => {
    await rejectsWithActionError(exec.run({ script: 'not-executable.sh' }, inDir()), {
      code: NOT_ALLOWED,
      retryable: false,
      message: /not executable/,
    });
    await rejectsWithActionError(exec.run({ script: 'a-directory' }, inDir()), {
      code: NOT_ALLOWED,
      retryable: false,
      message: /not a regular file/,
    });
    await rejectsWithActionError(exec.run({ script: 'missing.sh' }, inDir()), {
      code: NOT_ALLOWED,
      retryable: false,
      message: /no script "missing.sh"/,
    });
  });

  test('a bad timeout is bad input', async () => {
    await rejectsWithActionError(exec.run({ script: 'argv.sh', timeout: 'soon' }, inDir()), {
      code: ActionErrorCodes.BAD_INPUT,
      retryable: false,
      message: /timeout "soon"/,
    });
  });
});
