/**
 * The REST API over HTTPS (`api.tls`), with a real node process: node a of a local region serves its
 * API with a certificate of the region's CA (the stack's `apiTls`).
 * - HTTPS trusting the CA answers; a client that trusts only Node's own CA list refuses the
 *   certificate; plain HTTP to the port gets no answer at all.
 * - `lazarus events` reads the https node with `--ca`, and says what to do without it.
 * - Rotation: new files and SIGHUP; new connections get the new certificate (its fingerprint), and
 *   files that do not fit are refused with the old certificate still served.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { eventsCommand } from '../../src/cli/events.js';
import { issueNodeCertificate } from '../../src/cluster/certs.js';
import type { Pem } from '../../src/cluster/certs.js';
import { httpGet } from '../../src/common/http-get.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { waitFor } from '../helpers/wait.js';

describe('the REST API over HTTPS', { timeout: 120_000 }, () => {
  let stack: LocalStack;
  let ca: Buffer;
  let regionCa: Pem;
  let host: string;
  let port: number;
  const apiCerts = (): string => join(stack.configDir, 'certs', 'api');

  /** The certificate node a's API shows a new connection (trusting only the region's CA). */
  function served(): Promise<{ fingerprint: string; serial: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, ca }, () => {
        const cert = socket.getPeerCertificate();
        resolve({ fingerprint: cert.fingerprint256, serial: cert.serialNumber });
        socket.end();
      });
      socket.on('error', reject);
    });
  }

  async function nodeLog(): Promise<string> {
    return readFile(join(stack.workDir, 'logs', 'node-a.log'), 'utf8');
  }

  before(async () => {
    stack = await LocalStack.start({
      nodes: ['a'],
      shards: 1,
      apiTls: true,
      region: { kinesis: { lease_ttl: '3s', poll_interval: '50ms' } },
    });
    assert.ok(stack.apiCa !== undefined);
    ca = await readFile(stack.apiCa);
    regionCa = {
      cert: ca.toString('utf8'),
      key: await readFile(join(stack.workDir, 'ca', 'ca-key.pem'), 'utf8'),
    };
    const a = new URL(stack.apiUrl('a'));
    host = a.hostname;
    port = Number(a.port);
  });
  after(async () => {
    await stack?.stop();
    await stack?.remove();
  });

  test('HTTPS with the region CA answers; plain HTTP and an untrusting client get nothing', async () => {
    assert.match(stack.apiUrl('a'), /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await httpGet(`${stack.apiUrl('a')}/healthz`, { ca, timeoutMs: 5000 });
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.text), { status: 'ok' });
    const cluster = await httpGet(`${stack.apiUrl('a')}/v1/cluster`, { ca, timeoutMs: 5000 });
    assert.equal(cluster.status, 200, cluster.text);
    assert.equal((JSON.parse(cluster.text) as { self?: string }).self, 'a');

    // Node's own CA list does not know the region's CA: the certificate is refused.
    await assert.rejects(httpGet(`${stack.apiUrl('a')}/healthz`, { timeoutMs: 5000 }), (error: unknown) => {
      assert.match((error as { code?: string }).code ?? '', /CERT|SIGNATURE|ISSUER/);
      return true;
    });
    // Plain HTTP on the HTTPS port: the handshake fails, nothing is answered.
    await assert.rejects(httpGet(`http://${host}:${port}/healthz`, { timeoutMs: 5000 }), (error: unknown) => {
      assert.match(String((error as { code?: string }).code), /ECONNRESET|EPIPE/);
      return true;
    });
    await assert.rejects(fetch(`http://${host}:${port}/healthz`), TypeError);
  });

  test('lazarus events: https from region.yaml, --ca trusts the region CA; without it, why and what to do', async () => {
    const run = async (options: { ca?: string; api?: string }): Promise<[number, string, string]> => {
      const out = new PassThrough();
      const err = new PassThrough();
      let outText = '';
      let errText = '';
      out.on('data', (c: Buffer) => (outText += c.toString()));
      err.on('data', (c: Buffer) => (errText += c.toString()));
      const code = await eventsCommand(stack.configDir, options, out, err);
      return [code, outText, errText];
    };
    assert.ok(stack.apiCa !== undefined);
    const [ok, listed] = await run({ ca: stack.apiCa, api: `${host}:${port}` });
    assert.equal(ok, 0, listed);
    assert.match(listed, /^no events match/);

    // Without --ca the nodes of region.yaml are asked over https (api.tls), and refused.
    const saved = process.env['LAZARUS_API_CA'];
    delete process.env['LAZARUS_API_CA'];
    try {
      const [code, , why] = await run({});
      assert.equal(code, 2);
      assert.match(why, new RegExp(`https://127\\.0\\.0\\.1:${port}: the node's certificate is not trusted`));
      assert.match(why, /give --ca FILE \(or set \$LAZARUS_API_CA\)/);
      // The variable stands in for --ca.
      process.env['LAZARUS_API_CA'] = stack.apiCa;
      const [withEnv] = await run({ api: `https://${host}:${port}` });
      assert.equal(withEnv, 0);
    } finally {
      if (saved === undefined) delete process.env['LAZARUS_API_CA'];
      else process.env['LAZARUS_API_CA'] = saved;
    }
    // http:// to the HTTPS port: no answer, and the hint says why.
    const [plain, , plainWhy] = await run({ ca: stack.apiCa, api: `http://${host}:${port}` });
    assert.equal(plain, 2);
    assert.match(plainWhy, /a node with api\.tls serves only HTTPS/);
  });

  test('rotation: new files and SIGHUP, new connections get the new certificate; files that do not fit are refused', async () => {
    const before = await served();
    const fresh = issueNodeCertificate(regionCa, 'a', '127.0.0.1');
    const expected = new X509Certificate(fresh.cert).fingerprint256;
    assert.notEqual(expected, before.fingerprint);
    await writeFile(join(apiCerts(), 'a-key.pem'), fresh.key);
    await writeFile(join(apiCerts(), 'a.pem'), fresh.cert);
    stack.nodes.get('a')?.child.kill('SIGHUP');
    const after_ = await waitFor(
      'new connections to get the new certificate',
      async () => {
        const now = await served();
        return now.fingerprint === before.fingerprint ? undefined : now;
      },
      20_000,
      100,
    );
    assert.equal(after_.fingerprint, expected, 'the certificate served is the one written');
    assert.match(await nodeLog(), /REST API: certificate reloaded/);
    const health = await httpGet(`${stack.apiUrl('a')}/healthz`, { ca, timeoutMs: 5000 });
    assert.equal(health.status, 200);

    // A key that is not the certificate's: refused, the certificate in use stays.
    const other = issueNodeCertificate(regionCa, 'a', '127.0.0.1');
    await writeFile(join(apiCerts(), 'a-key.pem'), other.key);
    stack.nodes.get('a')?.child.kill('SIGHUP');
    await waitFor(
      'the refusal in the log',
      async () =>
        /REST API: the certificate files cannot be used; the ones in use stay/.test(await nodeLog())
          ? true
          : undefined,
      20_000,
      100,
    );
    assert.match(await nodeLog(), /api\.tls\.key: \S+a-key\.pem is not the key of \S+a\.pem/);
    assert.equal((await served()).fingerprint, expected, 'the rotated certificate is still served');
    // Put right again: the files are picked up.
    await writeFile(join(apiCerts(), 'a.pem'), other.cert);
    stack.nodes.get('a')?.child.kill('SIGHUP');
    const fixed = new X509Certificate(other.cert).fingerprint256;
    await waitFor(
      'the corrected files to be served',
      async () => ((await served()).fingerprint === fixed ? true : undefined),
      20_000,
      100,
    );
  });
});
