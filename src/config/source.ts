/**
 * YAML documents with their positions, and the problems found in them.
 *
 * Every problem the configuration loader reports is a `ConfigIssue` that names the file, the line
 * and column, the path inside the document and what was expected, so that an operator can go
 * straight to the line. Loading collects every issue of a run instead of stopping at the first.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';

/** One problem in the configuration. `line` and `col` are 1-based; 0 when the file itself is at fault. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** JSON Pointer inside the document (`/checks/0/checkName`), `''` for the whole document. */
  readonly path: string;
  readonly message: string;
}

/** `rules/x.yaml:12:5: /checks/0/checkName: unknown check "Foo"` */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Segments of a JSON pointer path as written by ajv (`/a/0/b~1c` → `['a', '0', 'b/c']`). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function pointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** A parsed YAML file: its plain value and what is needed to turn a path back into a position. */
export class YamlSource {
  private constructor(
    /** The file name as it is shown in messages (relative to where the loader was pointed). */
    readonly file: string,
    readonly value: unknown,
    private readonly doc: Document | undefined,
    private readonly lines: LineCounter,
  ) {}

  /** Parses `text`; syntax errors are pushed to `issues` and give a source whose value is `undefined`. */
  static parse(file: string, text: string, issues: ConfigIssue[]): YamlSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const pos = lines.linePos(error.pos[0]);
        issues.push({
          file,
          line: pos.line,
          col: pos.col,
          path: '',
          message: `YAML syntax: ${error.message.split('\n')[0] ?? error.code}`,
        });
      }
      return new YamlSource(file, undefined, undefined, lines);
    }
    let value: unknown;
    try {
      // Aliases are resolved here; a document that expands without bound is refused by `maxAliasCount`.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      issues.push({ file, line: 1, col: 1, path: '', message: `YAML: ${(error as Error).message}` });
      return new YamlSource(file, undefined, undefined, lines);
    }
    return new YamlSource(file, value, doc, lines);
  }

  static async read(path: string, shownAs: string, issues: ConfigIssue[]): Promise<YamlSource | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      issues.push({
        file: shownAs,
        line: 0,
        col: 0,
        path: '',
        message: `cannot read: ${(error as Error).message}`,
      });
      return undefined;
    }
    return YamlSource.parse(shownAs, text, issues);
  }

  /**
   * Position of the node at `path`. `key` asks for the position of the mapping key `path`'s last
   * segment names (for "unknown key" problems). Where the path does not exist, the nearest existing
   * ancestor is used, so that a missing key points at the map that lacks it.
   */
  position(path: readonly (string | number)[], key = false): { line: number; col: number } {
    if (this.doc === undefined) return { line: 1, col: 1 };
    let node: unknown = this.doc.contents;
    let best: Node | undefined = isNodeLike(node) ? node : undefined;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i];
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
        );
        if (pair === undefined) break;
        if (key && i === path.length - 1 && isNodeLike(pair.key)) {
          best = pair.key;
          break;
        }
        node = pair.value;
      } else if (isSeq(node)) {
        node = node.items[Number(segment)];
      } else {
        break;
      }
      if (isNodeLike(node)) best = node;
      else break;
    }
    const offset = best?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    return { line: pos.line, col: pos.col };
  }

  /** An issue at `path` (segments or a JSON pointer). */
  issue(path: readonly (string | number)[] | string, message: string, key = false): ConfigIssue {
    const segments = typeof path === 'string' ? pointerSegments(path) : path;
    const { line, col } = this.position(segments, key);
    return { file: this.file, line, col, path: pointer(segments), message };
  }
}

function isNodeLike(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'range' in value;
}
