/**
 * deploy/systemd/lazarus-node@.service: parsed and checked for the keys a node's unit must keep,
 * and, where `systemd-analyze` is installed, verified by systemd itself as an instance
 * (`lazarus-node@a.service`; a template alone is not a unit it can load).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO } from '../../helpers/config-copy.js';

const UNIT = join(REPO, 'deploy', 'systemd', 'lazarus-node@.service');
const ANALYZE = '/usr/bin/systemd-analyze';

/** A unit file's settings: section -> key -> values in order (a key may repeat). */
type Unit = Map<string, Map<string, string[]>>;

/** An INI-style unit file: `[Section]`, `Key=value`, `#`/`;` comments, `\` continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#') || line.startsWith(';'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = pending + line;
    pending = '';
    const header = /^\[(.+)\]$/.exec(full);
    if (header !== null) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = full.indexOf('=');
    if (section === undefined || eq < 0) throw new Error(`not a setting: ${full}`);
    const key = full.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), full.slice(eq + 1).trim()]);
  }
  return unit;
}

/** systemd's time span, as far as this unit writes them (`90s`, `2min`, `1min 30s`, a bare number of seconds). */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const match = /^(\d+)([a-z]*)$/.exec(part);
    const factor = match === null ? undefined : units[match[2]!];
    if (match === null || factor === undefined) return Number.NaN;
    total += Number(match[1]) * factor;
  }
  return total;
}

/**
 * The drain's own bound: `close()` in src/controller/node.ts waits up to about 10 s (runs 5 s, page
 * calls 3 s + 1 s, the peer server 1 s) after the batches in hand, whose events wait at most
 * `vote_timeout` (5 s by default) for votes. The stop timeout must leave room beyond that.
 */
const DRAIN_BOUND_S = 15;

/** Every way the unit fails the node's requirements; empty when it meets them all. */
function problems(unit: Unit): string[] {
  const found: string[] = [];
  const service = unit.get('Service') ?? new Map<string, string[]>();
  const last = (key: string): string | undefined => service.get(key)?.at(-1);
  const expect = (key: string, test: (value: string) => boolean, want: string): void => {
    const value = last(key);
    if (value === undefined || !test(value)) found.push(`${key}=${value ?? '(unset)'}: want ${want}`);
  };
  const is = (want: string) => (value: string) => value === want;

  expect(
    'ExecStart',
    (v) => / node --config \/etc\/lazarus --node %i$/.test(v),
    'node --config /etc/lazarus --node %i',
  );
  expect('Restart', is('on-failure'), 'on-failure');
  expect('KillSignal', is('SIGTERM'), 'SIGTERM');
  expect('TimeoutStopSec', (v) => seconds(v) > DRAIN_BOUND_S, `longer than the drain (${DRAIN_BOUND_S} s)`);
  expect('EnvironmentFile', is('/etc/lazarus/%i.env'), '/etc/lazarus/%i.env (not optional: no "-")');
  expect('NoNewPrivileges', is('yes'), 'yes');
  expect('ProtectSystem', is('strict'), 'strict');
  expect('ProtectHome', is('yes'), 'yes');
  expect('PrivateTmp', is('yes'), 'yes');
  expect('CapabilityBoundingSet', is(''), 'empty (no capabilities)');
  expect('RestrictAddressFamilies', is('AF_INET AF_INET6 AF_UNIX'), 'AF_INET AF_INET6 AF_UNIX');
  expect('SystemCallFilter', is('@system-service'), '@system-service');
  // V8's JIT needs writable-then-executable memory.
  expect('MemoryDenyWriteExecute', is('no'), 'no');
  const user = last('User');
  if (last('DynamicUser') !== 'yes' && (user === undefined || user === 'root' || user === '0'))
    found.push(`runs as ${user ?? 'root (no User= and no DynamicUser=yes)'}`);
  for (const path of (service.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)))
    if (path === '/' || path === '/etc' || path.startsWith('/etc/lazarus'))
      found.push(`ReadWritePaths makes ${path} writable`);
  if (unit.get('Install')?.get('WantedBy') === undefined) found.push('no [Install] WantedBy=');
  return found;
}

/** `systemd-analyze verify FILE`: its exit code and everything it printed. */
function verify(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(ANALYZE, ['verify', file], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

describe('deploy/systemd/lazarus-node@.service', () => {
  let text: string;
  let dir: string;

  before(async () => {
    text = await readFile(UNIT, 'utf8');
    dir = await mkdtemp(join(tmpdir(), 'lazarus-unit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('sets every key a node needs: the command, restarts, the drain, secrets, hardening', () => {
    assert.deepEqual(problems(parseUnit(text)), []);
  });

  test('an edited copy that weakens it is caught, each way', () => {
    const cases: Array<[RegExp, string, RegExp]> = [
      [/^NoNewPrivileges=yes$/m, '', /NoNewPrivileges/],
      [/^ProtectSystem=strict$/m, 'ProtectSystem=full', /ProtectSystem=full/],
      [/^TimeoutStopSec=.*$/m, 'TimeoutStopSec=5s', /TimeoutStopSec=5s/],
      [/^MemoryDenyWriteExecute=no$/m, 'MemoryDenyWriteExecute=yes', /MemoryDenyWriteExecute/],
      [/^User=lazarus$/m, 'User=root', /runs as root/],
      [/^CapabilityBoundingSet=$/m, 'CapabilityBoundingSet=CAP_SYS_ADMIN', /CapabilityBoundingSet/],
      [/^EnvironmentFile=.*$/m, 'EnvironmentFile=-/etc/lazarus/%i.env', /EnvironmentFile/],
      [/^ProtectHome=yes$/m, 'ProtectHome=yes\nReadWritePaths=/etc/lazarus', /ReadWritePaths makes/],
    ];
    for (const [from, to, expected] of cases) {
      assert.match(text, from, `the unit no longer matches ${from}: update this case`);
      const found = problems(parseUnit(text.replace(from, to)));
      assert.ok(
        found.some((p) => expected.test(p)),
        `${from} -> ${to}: ${JSON.stringify(found)}`,
      );
    }
  });

  test('systemd-analyze verify accepts it as an instance (and refuses a broken copy)', async () => {
    // .ci/run installs Debian's systemd when it is missing: the unit is always checked by systemd itself.
    assert.ok(existsSync(ANALYZE), `${ANALYZE} is not installed (Debian: apt-get install systemd)`);
    // verify checks that ExecStart's program exists: point it at this node, wherever it is installed.
    const instance = (body: string): string =>
      body.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`);
    // First a unit with nothing in it to refuse: if that fails, the fault is in this environment.
    const control = join(dir, 'lazarus-control.service');
    await writeFile(control, `[Service]\nExecStart=${process.execPath} --version\n`);
    const baseline = await verify(control);
    assert.deepEqual(
      baseline,
      { code: 0, output: '' },
      'systemd-analyze verify refuses even a minimal unit here',
    );
    const good = join(dir, 'lazarus-node@a.service');
    await writeFile(good, instance(text));
    // Any warning at all (an unknown key, a value systemd ignores) counts, not only the exit code.
    assert.deepEqual(await verify(good), { code: 0, output: '' });

    const bad = join(dir, 'lazarus-node@b.service');
    await writeFile(bad, instance(text).replace(/^Type=exec$/m, 'Type=exec\nProtectSystm=strict'));
    const refused = await verify(bad);
    assert.match(refused.output, /Unknown key 'ProtectSystm'/);
  });
});
