/** Where the package is installed, so that the CLI finds its shipped configuration from any directory. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** `--config`, else `$LAZARUS_CONFIG`, else the shipped local region. */
export function configDir(flag: string | undefined): string {
  return flag ?? process.env['LAZARUS_CONFIG'] ?? join(packageRoot(), 'deploy', 'local');
}
