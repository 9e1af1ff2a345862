/**
 * Lua scripts, one file each, registered with ioredis' `defineCommand` under a versioned name
 * (`lz_v<SCRIPT_VERSION>_<name>`; the version goes up whenever a script's keys, arguments or
 * replies change): two releases of the controller never share a script of the same name during a
 * rolling upgrade. Scripts are read from the package's `src/` tree, which ships with the package,
 * so the compiled output needs no copy step.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { packageRoot } from './package-root.js';

export const SCRIPT_VERSION = 3;

export interface ScriptSpec {
  /** Folder under `src/` that holds `lua/<name>.lua`. */
  readonly module: string;
  readonly name: string;
  readonly keys: number;
}

export function commandName(spec: ScriptSpec): string {
  return `lz_v${SCRIPT_VERSION}_${spec.name.replace(/-/g, '_')}`;
}

/** Defines each script on the client (idempotent) and returns its command name. */
export function defineScripts(redis: Redis, specs: readonly ScriptSpec[]): void {
  for (const spec of specs) {
    const name = commandName(spec);
    if (typeof (redis as unknown as Record<string, unknown>)[name] === 'function') continue;
    const lua = readFileSync(join(packageRoot(), 'src', spec.module, 'lua', `${spec.name}.lua`), 'utf8');
    redis.defineCommand(name, { numberOfKeys: spec.keys, lua });
  }
}

/** Calls a defined script. */
export async function runScript(
  redis: Redis,
  spec: ScriptSpec,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[
    commandName(spec)
  ];
  if (fn === undefined) throw new Error(`Lua script ${spec.name} is not defined on this client`);
  // ioredis splits the arguments by the count given at definition: a call with another count would
  // hand the script an argument as a key (or a key as an argument) without a word.
  if (keys.length !== spec.keys)
    throw new Error(`Lua script ${spec.name} takes ${spec.keys} key(s), called with ${keys.length}`);
  return fn.call(redis, ...keys, ...args);
}
