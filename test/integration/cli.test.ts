import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO, copyConfig } from '../helpers/config-copy.js';
import type { ConfigCopy } from '../helpers/config-copy.js';

const run = promisify(execFile);
const CLI = join(REPO, 'src', 'cli', 'main.ts');

/** Runs `lazarus ARGS` as a real process; resolves with the exit code and output, whatever the code. */
async function lazarus(
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = run(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const hostDown = JSON.stringify({
  id: 'ev-1',
  type: 'NagiosHostAlarm',
  source: 'nagios',
  time: '2026-11-22T03:00:00Z',
  environment: 'prod',
  service: 'sms-api',
  host: 'sms-api-3',
  data: { host_state: 'DOWN', host_state_type: 'HARD' },
});

describe('lazarus validate', () => {
  let broken: ConfigCopy;
  before(async () => {
    broken = await copyConfig();
    await broken.edit('profiles/stateless.yaml', 'rules:\n', 'rules: [\n');
    await broken.edit('rules/healthcheck_down.yaml', 'checkName: PeerCheck', 'checkName: PeerChek');
    await broken.edit('workflows/default.replace_host.yaml', 'needs: [lb_out]', 'needs: [lb_out, resolve]');
    await broken.edit('deploy/local/services.yaml', 'min_active_hosts: 3', 'min_active_host: 3');
  });
  after(() => broken.remove());

  test('the shipped configuration is valid: exit 0', async () => {
    const { code, stdout } = await lazarus(['validate']);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /valid\. Region local-1, 3 nodes \(quorum 2\)/);
  });

  test('a cluster without replicas to wait for: valid, with a warning that a failover can forget a lock', async () => {
    const copy = await copyConfig();
    try {
      await copy.edit(
        'deploy/local/region.yaml',
        '  url: redis://127.0.0.1:6379/0\n',
        '  mode: cluster\n  nodes: ["127.0.0.1:7000"]\n  replica_ack: { replicas: 0 }\n',
      );
      const { code, stdout } = await lazarus(['validate', '--config', copy.dir]);
      assert.equal(code, 0, stdout);
      assert.match(
        stdout,
        /warning: redis\.mode is cluster with replica_ack\.replicas 0: .*a failover can forget one/,
      );
    } finally {
      await copy.remove();
    }
  });

  test('a broken copy: exit 1 and each error with file:line:col', async () => {
    const { code, stdout } = await lazarus(['validate', '--config', broken.dir]);
    assert.equal(code, 1);
    assert.match(stdout, /profiles\/stateless\.yaml:\d+:\d+: YAML syntax/);
    assert.match(
      stdout,
      /rules\/healthcheck_down\.yaml:14:\d+: \/checks\/3\/checkName: unknown check "PeerChek"/,
    );
    assert.match(
      stdout,
      /workflows\/default\.replace_host\.yaml:\d+:\d+: \/steps\/\d\/needs: cycle in steps/,
    );
    assert.match(
      stdout,
      /deploy\/local\/services\.yaml:7:7: \/services\/sms-api\/parameters\/min_active_host: unknown key/,
    );
    assert.match(stdout, /\d+ problem\(s\)/);
  });
});

describe('lazarus match', () => {
  test('a matching event: the rule and its compiled parameters, exit 0', async () => {
    const { code, stdout } = await lazarus(['match', '--event', '-'], hostDown);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /matched sms-api\/nagios_host_down/);
    assert.match(stdout, /MinActiveHosts\s+threshold 3 \(service\)/);
  });

  test('--json gives the same as a document', async () => {
    const { code, stdout } = await lazarus(['match', '--json', '--event', '-'], hostDown);
    assert.equal(code, 0);
    const doc = JSON.parse(stdout) as {
      matched: { id: string; lock: string };
      parameters: Record<string, { value: unknown }>;
    };
    assert.equal(doc.matched.id, 'sms-api/nagios_host_down');
    assert.equal(doc.matched.lock, 'host');
    assert.equal(doc.parameters['workflow_timeout']?.value, '30m');
  });

  test('no rule: why, exit 1', async () => {
    const { code, stdout } = await lazarus(['match', '--event', '-'], hostDown.replace('HARD', 'SOFT'));
    assert.equal(code, 1);
    assert.match(stdout, /event_data\.host_state_type: expected HARD, got SOFT/);
    assert.match(stdout, /no rule matched/);
  });

  test('a malformed event: the rejection, exit 2', async () => {
    const { code, stdout } = await lazarus(['match', '--event', '-'], '{"id": 1}');
    assert.equal(code, 2);
    assert.match(stdout, /rejected \(LZ_ERR_EVENT_INVALID\)/);
  });

  test('--help on every command exits 0 with its options; --version prints the package version', async () => {
    const commands = [
      'validate',
      'certs',
      'match',
      'node',
      'start',
      'submit',
      'run-workflow',
      'events',
      'event',
      'nagios-notify',
    ];
    const helps = await Promise.all(commands.map((c) => lazarus([c, '--help'])));
    helps.forEach((h, i) => {
      assert.equal(h.code, 0, `${commands[i]} --help: ${h.stderr}`);
      assert.match(h.stdout, new RegExp(`^Usage: lazarus ${commands[i]} `, 'm'));
      assert.match(h.stdout, /--config <dir>/);
    });
    const top = await lazarus(['--help']);
    assert.equal(top.code, 0);
    for (const c of commands) assert.match(top.stdout, new RegExp(`^  ${c} `, 'm'));
    const version = await lazarus(['--version']);
    const { version: expected } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.deepEqual([version.code, version.stdout.trim()], [0, expected]);
  });

  test('a mistyped command or option: exit 2 and a suggestion', async () => {
    const command = await lazarus(['valdate']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /lazarus: unknown command 'valdate'\n\(Did you mean validate\?\)/);
    const option = await lazarus(['match', '--evnt', 'x.json']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--evnt'\n\(Did you mean --event\?\)/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await lazarus(['match'])).code, 2);
    assert.equal((await lazarus(['frobnicate'])).code, 2);
  });
});

describe('lazarus submit', () => {
  test("an event with the REST API's stamp is refused: it would claim a token that never submitted it", async () => {
    const stamped = JSON.stringify({
      ...(JSON.parse(hostDown) as object),
      submitted_by: { via: 'api', token: 'nagios', node: 'a' },
    });
    const { code, stdout } = await lazarus(['submit', '--event', '-'], stamped);
    assert.equal(code, 2, stdout);
    assert.match(stdout, /^refused: submitted_by is the REST API's stamp .*: remove the field\n$/);
  });
});

describe('lazarus certs and the peers section', () => {
  let copy: ConfigCopy;
  before(async () => {
    copy = await copyConfig();
  });
  after(async () => {
    await copy.remove();
  });

  test("writes the region's CA and a certificate per node naming its id; a second run keeps the CA", async () => {
    const first = await lazarus(['certs', '--config', copy.dir]);
    assert.equal(first.code, 0, first.stderr);
    for (const file of ['ca.pem', 'ca-key.pem', 'a.pem', 'a-key.pem', 'b.pem', 'c-key.pem'])
      assert.match(first.stdout, new RegExp(`wrote .*certs/${file}\n`));
    assert.match(first.stdout, /cert: certs\/\{node\}\.pem/);
    const { X509Certificate } = await import('node:crypto');
    const { stat } = await import('node:fs/promises');
    const ca = new X509Certificate(await readFile(join(copy.dir, 'certs', 'ca.pem')));
    const b = new X509Certificate(await readFile(join(copy.dir, 'certs', 'b.pem')));
    assert.ok(b.verify(ca.publicKey), "b's certificate is signed by the region's CA");
    assert.match(b.subjectAltName ?? '', /DNS:b, IP Address:127\.0\.0\.1/);
    assert.equal(
      (await stat(join(copy.dir, 'certs', 'b-key.pem'))).mode & 0o077,
      0,
      "the key is the owner's only",
    );

    const second = await lazarus(['certs', '--config', copy.dir]);
    assert.equal(second.code, 0);
    assert.doesNotMatch(second.stdout, /wrote .*ca\.pem/, 'the CA is kept');
    const b2 = new X509Certificate(await readFile(join(copy.dir, 'certs', 'b.pem')));
    assert.notEqual(b2.serialNumber, b.serialNumber, 'a new certificate');
    assert.ok(b2.verify(ca.publicKey), 'from the same CA');
    assert.equal((await lazarus(['certs', '--config', copy.dir, '--days', '0'])).code, 2);
  });

  test("one node's files only, the CA kept elsewhere; a CA without its key is not replaced", async () => {
    const { mkdtemp, readdir, rm, rename } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const root = await mkdtemp(join(tmpdir(), 'lz-certs-'));
    try {
      const out = join(root, 'node-b');
      const caDir = join(root, 'ca');
      const onlyB = ['certs', '--config', copy.dir, '--out', out, '--ca-dir', caDir, '--node', 'b'];
      const b = await lazarus(onlyB);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.deepEqual(
        (await readdir(out)).sort(),
        ['b-key.pem', 'b.pem', 'ca.pem'],
        "only b's files and the CA certificate",
      );
      assert.deepEqual((await readdir(caDir)).sort(), ['ca-key.pem', 'ca.pem']);
      const unknown = await lazarus(['certs', '--config', copy.dir, '--out', out, '--node', 'z']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stdout, /--node z: not in region\.yaml \(nodes: a, b, c\)/);
      // The CA key moved off the machine: a second run must not make a new CA behind the nodes' backs.
      await rename(join(caDir, 'ca-key.pem'), join(root, 'ca-key.pem'));
      const again = await lazarus(onlyB);
      assert.equal(again.code, 1);
      assert.match(again.stdout, /has no .*ca-key\.pem beside it: put the CA key back .* or say --new-ca/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test("a node's certificate names its API host too (it can serve api.tls), and the output says how", async () => {
    const { X509Certificate } = await import('node:crypto');
    await copy.edit('deploy/local/region.yaml', 'api: "127.0.0.1:8183"', 'api: "localhost:8183"');
    try {
      const run = await lazarus(['certs', '--config', copy.dir, '--node', 'c']);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /api: .*--ca certs\/ca\.pem\n {4}tls:\n {6}cert: certs\/\{node\}\.pem\n/);
      const c = new X509Certificate(await readFile(join(copy.dir, 'certs', 'c.pem')));
      assert.equal(c.subjectAltName, 'DNS:c, IP Address:127.0.0.1, DNS:localhost');
      assert.ok(c.checkHost('localhost') !== undefined && c.checkIP('127.0.0.1') !== undefined);
    } finally {
      await copy.edit('deploy/local/region.yaml', 'api: "localhost:8183"', 'api: "127.0.0.1:8183"');
    }
  });

  test('peers: insecure loads with a warning; neither tls nor insecure does not load, at its line', async () => {
    await copy.edit(
      'deploy/local/region.yaml',
      / {2}tls:\n {4}ca: certs\/ca\.pem\n {4}cert: certs\/\{node\}\.pem\n {4}key: certs\/\{node\}-key\.pem\n/,
      '  insecure: true\n',
    );
    const insecure = await lazarus(['validate', '--config', copy.dir]);
    assert.equal(insecure.code, 0, insecure.stdout);
    assert.match(
      insecure.stdout,
      /warning: peers\.insecure is true: votes between nodes are not authenticated/,
    );
    await copy.edit('deploy/local/region.yaml', '  insecure: true\n', '  insecure: false\n');
    const neither = await lazarus(['validate', '--config', copy.dir]);
    assert.equal(neither.code, 1);
    assert.match(neither.stdout, /region\.yaml:\d+:\d+: \/peers: peers needs tls \(ca, cert, key/);
  });
});
