/** The API's pure parts: the list query, addresses, errors' JSON, cursors, the console's file paths. */
import { strict as assert } from 'node:assert';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiError, ApiErrorCodes } from '../../../src/api/errors.js';
import { parseHostPort } from '../../../src/api/http.js';
import { parseEventQuery, parseTime } from '../../../src/api/query.js';
import { StaticFiles } from '../../../src/api/static-files.js';
import { AuditErrorCodes, decodeCursor, encodeCursor } from '../../../src/audit/cursor.js';

describe('parseEventQuery', () => {
  test('takes every filter, times as epoch ms or RFC 3339', () => {
    assert.deepEqual(
      parseEventQuery(
        new URLSearchParams(
          'service=sms-api&host=h1&status=escalate&reason=no_quorum&since=1000&until=2026-11-22T03:00:00Z&limit=20&cursor=abc',
        ),
      ),
      {
        service: 'sms-api',
        host: 'h1',
        status: 'escalate',
        reason: 'no_quorum',
        since: 1000,
        until: Date.parse('2026-11-22T03:00:00Z'),
        limit: 20,
        cursor: 'abc',
      },
    );
    assert.deepEqual(parseEventQuery(new URLSearchParams('status=rejected&reason=LZ_ERR_EVENT_NOT_JSON')), {
      status: 'rejected',
      reason: 'LZ_ERR_EVENT_NOT_JSON',
    });
    assert.deepEqual(parseEventQuery(new URLSearchParams('service=&limit=')), {});
  });

  test('names every problem at once', () => {
    try {
      parseEventQuery(new URLSearchParams('status=x&limit=0&since=soon&colour=red&host=a&host=b'));
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof ApiError);
      assert.equal(error.code, ApiErrorCodes.BAD_REQUEST);
      assert.equal(error.status, 400);
      assert.deepEqual(error.errors.map((e) => e.path).sort(), [
        'colour',
        'host',
        'limit',
        'since',
        'status',
      ]);
      assert.deepEqual(Object.keys(error.body().error), ['code', 'message', 'errors']);
    }
  });

  test('times', () => {
    assert.equal(parseTime('1700000000000'), 1_700_000_000_000);
    assert.equal(parseTime('2026-11-22T03:00:00.5+01:00'), Date.parse('2026-11-22T02:00:00.5Z'));
    assert.equal(parseTime('2026-11-22'), undefined);
    assert.equal(parseTime('2026-13-40T99:00:00Z'), undefined);
  });
});

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8181'), { host: '127.0.0.1', port: 8181 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort('node-a.internal:80'), { host: 'node-a.internal', port: 80 });
  for (const bad of ['8181', '127.0.0.1', '127.0.0.1:70000', '::1:80', 'http://a:1']) {
    assert.throws(() => parseHostPort(bad), /host:port/, bad);
  }
});

test('cursors round-trip and refuse anything else', () => {
  const d = { k: 'd', s: 1_700_000_000_000, m: 'e-1' } as const;
  assert.deepEqual(decodeCursor(encodeCursor(d), 'd'), d);
  const r = { k: 'r', o: 12, id: 'shardId-1:42' } as const;
  assert.deepEqual(decodeCursor(encodeCursor(r), 'r'), r);
  for (const [text, kind] of [
    [encodeCursor(d), 'r'],
    [encodeCursor(r), 'd'],
    ['', 'd'],
    ['a b', 'd'],
    [Buffer.from('{"k":"r","o":-1,"id":"x"}').toString('base64url'), 'r'],
  ] as const) {
    assert.throws(() => decodeCursor(text, kind), { code: AuditErrorCodes.BAD_CURSOR }, text);
  }
});

describe('StaticFiles', () => {
  let dir: string;
  let files: StaticFiles;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lazarus-static-'));
    await mkdir(join(dir, 'site', 'css'), { recursive: true });
    await writeFile(join(dir, 'site', 'index.html'), '<p>hi</p>');
    await writeFile(join(dir, 'site', 'css', 'main.css'), 'p{}');
    await writeFile(join(dir, 'site', 'logo.svg'), '<svg/>');
    await writeFile(join(dir, 'outside.txt'), 'secret');
    await symlink(join(dir, 'outside.txt'), join(dir, 'site', 'link.txt'));
    files = new StaticFiles(join(dir, 'site'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('serves files with their content types; / is index.html', async () => {
    assert.equal((await files.read('/'))?.contentType, 'text/html; charset=utf-8');
    assert.equal((await files.read('/'))?.body.toString(), '<p>hi</p>');
    assert.equal((await files.read('/css/main.css'))?.contentType, 'text/css; charset=utf-8');
    assert.equal((await files.read('/logo.svg'))?.contentType, 'image/svg+xml');
  });

  test('nothing outside the directory, nor directories, nor what is missing', async () => {
    for (const path of [
      '/../outside.txt',
      '/..%2foutside.txt',
      '/%2e%2e/outside.txt',
      '/css/../../outside.txt',
      '/link.txt',
      '/css',
      '/missing.js',
      '/index.html%00',
      '/%E0%A4%A',
      '/..\\outside.txt',
    ]) {
      assert.equal(await files.read(path), undefined, path);
    }
  });
});
