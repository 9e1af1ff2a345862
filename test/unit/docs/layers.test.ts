/**
 * The layers are enforced: ESLint (the configuration `npm run lint` uses) refuses an import that
 * climbs a layer, and lets the same file import what its layer allows.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { REPO } from '../../helpers/config-copy.js';

async function lintWith(file: string, imports: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: REPO });
  const path = join(REPO, file);
  // The file's own text with the import put in front: linted as that file, type-aware as in CI.
  const [result] = await eslint.lintText(`${imports}\n${await readFile(path, 'utf8')}`, { filePath: path });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

test(
  'an adapter importing the controller fails lint; importing its own layer does not',
  { timeout: 60_000 },
  async () => {
    const climbing = await lintWith(
      'src/pager/errors.ts',
      "import type { Handled } from '../controller/pipeline.js';\nexport type LayerProbe = Handled;",
    );
    assert.equal(climbing.length, 1, climbing.join('\n'));
    assert.match(climbing[0] ?? '', /^no-restricted-imports: .*src\/pager may import only common/);

    const cycle = await lintWith(
      'src/records/decision.ts',
      "import type { Pipeline } from '../controller/pipeline.js';\nexport type LayerProbe = Pipeline;",
    );
    assert.match(cycle.join('\n'), /no-restricted-imports: .*src\/records may import only/);

    const allowed = await lintWith(
      'src/pager/errors.ts',
      "import type { LockRef } from '../common/lock-ref.js';\nexport type LayerProbe = LockRef;",
    );
    assert.deepEqual(allowed, []);
  },
);
