/**
 * The web console's files, served as they are from one directory (no build step). A request path is
 * resolved inside that directory and nowhere else: `..` segments, encoded or not, NUL bytes, and
 * symbolic links that lead out of it are all refused as not found.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { packageRoot } from '../common/package-root.js';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

/** Where the console's files are: `src/api/console/` of the package (the same from `src/` and `dist/`). */
export function defaultConsoleDir(): string {
  return join(packageRoot(), 'src', 'api', 'console');
}

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** Serves one directory; `/` is its `index.html`. */
export class StaticFiles {
  private readonly root: string;
  private realRoot: string | undefined;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  /** The file for a URL path (still percent-encoded); `undefined` when there is none to serve. */
  async read(urlPath: string): Promise<StaticFile | undefined> {
    let path: string;
    try {
      path = decodeURIComponent(urlPath);
    } catch {
      return undefined;
    }
    if (path.includes('\0') || path.includes('\\')) return undefined;
    if (path.split('/').some((segment) => segment === '..')) return undefined;
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(this.root, `.${path}`);
    if (!file.startsWith(this.root + sep)) return undefined;
    try {
      this.realRoot ??= await realpath(this.root);
      // A symbolic link inside the directory must not lead out of it.
      const real = await realpath(file);
      if (!real.startsWith(this.realRoot + sep)) return undefined;
      if (!(await stat(real)).isFile()) return undefined;
      return { body: await readFile(real), contentType: contentTypeOf(real) };
    } catch {
      return undefined; // missing (or unreadable): not found
    }
  }
}
