/**
 * The README's error table lists exactly the controller's error codes: every `LZ_ERR_*` code that
 * the sources define (outside the simulators, which are test tools with codes of their own) has a
 * row, and no row names a code that nothing defines any more.
 */
import { strict as assert } from 'node:assert';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ACTION_ERRORS } from '../../../src/actions/errors.js';
import { SENSOR_ERRORS } from '../../../src/sensors/errors.js';
import { API_ERRORS } from '../../../src/api/errors.js';
import { AUDIT_ERRORS } from '../../../src/audit/errors.js';
import { CLI_ERRORS } from '../../../src/cli/errors.js';
import { COMMON_ERRORS } from '../../../src/common/errors.js';
import type { ErrorRegistry, ErrorSpec } from '../../../src/common/errors.js';
import { CONFIG_ERRORS } from '../../../src/config/errors.js';
import { CONTROLLER_ERRORS } from '../../../src/controller/errors.js';
import { EVENT_ERRORS } from '../../../src/events/errors.js';
import { INVENTORY_ERRORS } from '../../../src/inventory/errors.js';
import { NOTIFY_ERRORS } from '../../../src/notify/errors.js';
import { PAGER_ERRORS } from '../../../src/pager/errors.js';
import { SAFETY_ERRORS } from '../../../src/safety/errors.js';
import { WORKFLOW_ERRORS } from '../../../src/workflow/errors.js';
import { REPO } from '../../helpers/config-copy.js';

/** Every module's error registry (common/errors.ts's `errorRegistry`). */
const REGISTRIES: readonly ErrorRegistry<Readonly<Record<string, ErrorSpec>>>[] = [
  COMMON_ERRORS,
  CONFIG_ERRORS,
  EVENT_ERRORS,
  CLI_ERRORS,
  INVENTORY_ERRORS,
  WORKFLOW_ERRORS,
  AUDIT_ERRORS,
  SAFETY_ERRORS,
  CONTROLLER_ERRORS,
  ACTION_ERRORS,
  NOTIFY_ERRORS,
  PAGER_ERRORS,
  API_ERRORS,
  SENSOR_ERRORS,
];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

test("the README's error table lists exactly the codes the sources define", async () => {
  const defined = new Map<string, string>();
  for (const file of await sources(join(REPO, 'src'))) {
    if (relative(join(REPO, 'src'), file).startsWith('sim')) continue;
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/'(LZ_ERR_[A-Z0-9_]+)'/g))
      if (m[1] !== undefined) {
        const where = relative(REPO, file);
        defined.set(m[1], defined.has(m[1]) ? `${defined.get(m[1])}, ${where}` : where);
      }
  }
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const listed = new Set([...readme.matchAll(/^\| `(LZ_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] ?? ''));
  const missing = [...defined].filter(([code]) => !listed.has(code)).map(([c, f]) => `${c} (${f})`);
  const stale = [...listed].filter((code) => !defined.has(code));
  assert.deepEqual(missing, [], 'codes without a row in the README');
  assert.deepEqual(stale, [], 'README rows for codes nothing defines');
  assert.ok(defined.size > 30, `only ${defined.size} codes found: the scan is broken`);
  // Each code is defined in one registry, in its module's errors.ts, and nowhere else.
  const registered = REGISTRIES.flatMap((r) => Object.values(r.specs).map((spec) => spec.code));
  assert.equal(new Set(registered).size, registered.length, 'a code in two registries');
  assert.deepEqual([...defined.keys()].sort(), [...registered].sort(), 'codes outside a registry');
  for (const [code, file] of defined) assert.match(file, /^src\/[a-z]+\/errors\.ts$/, `${code} in ${file}`);
});

test("each module registry's meaning is the README's row, word for word", async () => {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const rows = new Map(
    [...readme.matchAll(/^\| `(LZ_ERR_[A-Z0-9_]+)` \| (.*) \|$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
  let checked = 0;
  for (const registry of REGISTRIES)
    for (const spec of Object.values(registry.specs)) {
      assert.equal(rows.get(spec.code), spec.message, `${registry.module}: ${spec.code}`);
      assert.ok(spec.http >= 400 && spec.http < 600, `${spec.code}: HTTP status ${spec.http}`);
      checked += 1;
    }
  assert.ok(checked >= 40, `only ${checked} codes in the registries`);
});
