/** bench:cluster --profile's summary of a V8 .cpuprofile: self time by owner and by function, idle left out. */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ownerOf, summarize } from '../../bench/cpu-profile.js';

describe('cpu-profile', () => {
  test('owners: our modules by folder, packages by name, Node by subsystem, V8 by its own names', () => {
    assert.equal(ownerOf('file:///work/main/src/controller/pipeline.ts', 'handle'), 'ours: controller');
    assert.equal(ownerOf('file:///work/main/node_modules/ioredis/built/Redis.js', 'sendCommand'), 'ioredis');
    assert.equal(ownerOf('file:///x/node_modules/@grpc/grpc-js/build/src/server.js', 'f'), '@grpc/grpc-js');
    assert.equal(ownerOf('node:internal/streams/readable', 'read'), 'node: streams');
    assert.equal(ownerOf('node:net', 'write'), 'node: net');
    assert.equal(ownerOf('', '(garbage collector)'), '(garbage collector)');
    assert.equal(ownerOf('', 'writeUtf8String'), '(native)');
  });

  test('self time per sample from the next time delta, idle left out, largest first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpuprofile-'));
    try {
      const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
        id,
        callFrame: { functionName, url, lineNumber: 9, scriptId: '0', columnNumber: 0 },
        children,
      });
      const profile = {
        nodes: [
          frame(1, '(root)', '', [2, 3, 4]),
          frame(2, '(idle)', ''),
          frame(3, 'handle', 'file:///r/src/controller/pipeline.ts'),
          frame(4, 'sendCommand', 'file:///r/node_modules/ioredis/built/Redis.js'),
        ],
        startTime: 0,
        endTime: 10_000,
        samples: [3, 4, 2, 3, 4],
        // Sample i lasts timeDeltas[i + 1] µs: 3 → 1000, 4 → 3000, idle → 5000, 3 → 500, 4 → 0 (last).
        timeDeltas: [0, 1000, 3000, 5000, 500],
      };
      const path = join(dir, 'CPU.1.cpuprofile');
      await writeFile(path, JSON.stringify(profile));
      const s = await summarize(path);
      assert.equal(s.busyMs, 4.5);
      assert.deepEqual(s.owners, [
        ['ioredis', 3],
        ['ours: controller', 1.5],
      ]);
      assert.deepEqual(
        s.functions.map(([f]) => f),
        ['sendCommand Redis.js:10', 'handle pipeline.ts:10'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
