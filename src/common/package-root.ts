/** Where the package is installed: the shipped configuration, protos and Lua scripts are found from it. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The nearest directory above this module with a package.json (the same from `src/` and `dist/src/`). */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return (cached = process.cwd());
    dir = parent;
  }
  return (cached = dir);
}

/** `--config`, else `$LAZARUS_CONFIG`, else the shipped local region. */
export function configDir(flag: string | undefined): string {
  return flag ?? process.env['LAZARUS_CONFIG'] ?? join(packageRoot(), 'deploy', 'local');
}
