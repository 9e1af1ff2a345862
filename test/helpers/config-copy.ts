/**
 * A private copy of the shipped configuration (region, services and the rule, workflow and profile
 * libraries) in a temporary directory, with edits applied: how tests build broken configurations
 * without touching the real ones.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface ConfigCopy {
  /** The region directory (what `--config` points to). */
  readonly dir: string;
  readonly root: string;
  /** Replaces `from` (which must occur) with `to` in a file relative to the copy's root. */
  edit(file: string, from: string | RegExp, to: string): Promise<void>;
  write(file: string, text: string): Promise<void>;
  remove(): Promise<void>;
}

export async function copyConfig(): Promise<ConfigCopy> {
  const root = await mkdtemp(join(tmpdir(), 'lz-config-'));
  for (const dir of ['rules', 'workflows', 'profiles', 'deploy']) {
    await cp(join(REPO, dir), join(root, dir), { recursive: true });
  }
  return {
    root,
    dir: join(root, 'deploy', 'local'),
    async edit(file, from, to) {
      const path = join(root, file);
      const text = await readFile(path, 'utf8');
      const next = text.replace(from, to);
      if (next === text) throw new Error(`test setup: ${String(from)} not found in ${file}`);
      await writeFile(path, next);
    },
    async write(file, text) {
      await writeFile(join(root, file), text);
    },
    async remove() {
      await rm(root, { recursive: true, force: true });
    },
  };
}
