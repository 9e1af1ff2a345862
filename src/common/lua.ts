/**
 * Lua scripts, one file each, registered with ioredis' `defineCommand` under a versioned name
 * (`lz_v<SCRIPT_VERSION>_<name>`; the version goes up whenever a script's keys, arguments or
 * replies change): two releases of the controller never share a script of the same name during a
 * rolling upgrade. Scripts are read from the package's `src/` tree, which ships with the package,
 * so the compiled output needs no copy step.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClient } from './redis.js';
import { calculateSlot } from './redis-node.js';
import { COMMON_ERRORS, LzError } from './errors.js';
import { packageRoot } from './package-root.js';

export const SCRIPT_VERSION = 5;

export interface ScriptSpec<K extends string = string, R = unknown> {
  /** Folder under `src/` that holds `lua/<name>.lua`. */
  readonly module: string;
  readonly name: string;
  /**
   * The script's keys by name, in the order of `KEYS[1..n]`: the one place their count is said
   * (ioredis is told it at definition, and a call names each key). A unit test holds each list to
   * the highest `KEYS[n]` the script reads.
   */
  readonly keys: readonly K[];
  /**
   * The script's reply as the caller's value, or `undefined` for any reply the script is not
   * written to give: refused with `LZ_ERR_SCRIPT_REPLY` (fail closed: never read as a yes).
   */
  readonly reply: (reply: unknown) => R | undefined;
}

/** A Lua script answered something it never returns (a bug, or two releases sharing a name). */
export const SCRIPT_REPLY = COMMON_ERRORS.codes.SCRIPT_REPLY;

/** The one error for a reply no decoder accepts. Not retryable: the same script answers the same. */
export function scriptReplyError(script: string, reply: unknown): LzError {
  let text: string;
  try {
    text = JSON.stringify(reply) ?? String(reply);
  } catch {
    text = String(reply);
  }
  return new LzError(SCRIPT_REPLY, `Lua script ${script} returned an unexpected reply: ${text}`);
}

const REGISTERED = new Map<string, ScriptSpec<string, unknown>>();

/** Declares a script (its keys by name, its reply decoder); every declaration is registered. */
export function script<const K extends string, R>(
  module: string,
  name: string,
  keys: readonly K[],
  reply: (reply: unknown) => R | undefined,
): ScriptSpec<K, R> {
  const spec = { module, name, keys, reply };
  const id = `${module}/${name}`;
  const before = REGISTERED.get(id);
  // A script shared by two modules (the leases) is declared with the same keys by both; each
  // declaration decodes with its own decoder, the list keeps the first.
  if (before !== undefined && before.keys.join() !== keys.join())
    throw new Error(`Lua script ${id} declared with keys ${keys.join()} and ${before.keys.join()}`);
  if (before === undefined) REGISTERED.set(id, spec);
  return spec;
}

/** Every script declared so far (by the modules loaded), for the tests that check them all. */
export function registeredScripts(): ScriptSpec<string, unknown>[] {
  return [...REGISTERED.values()];
}

/** Decoders of the replies most scripts give. */
export const replies = {
  /** `1` yes, `0` no. */
  yesNo: (reply: unknown): boolean | undefined => (reply === 1 ? true : reply === 0 ? false : undefined),
  /** One of the integer codes listed, named: `codes({ 1: 'moved', 2: 'already', 0: 'not_owner' })`. */
  codes:
    <T extends string>(names: Readonly<Record<number, T>>) =>
    (reply: unknown): T | undefined =>
      typeof reply === 'number' ? names[reply] : undefined,
  /** A string. */
  text: (reply: unknown): string | undefined => (typeof reply === 'string' ? reply : undefined),
  /** An array of finite numbers of the given length. */
  numbers:
    (length: number) =>
    (reply: unknown): number[] | undefined =>
      Array.isArray(reply) &&
      reply.length === length &&
      reply.every((v) => typeof v === 'number' && Number.isFinite(v))
        ? (reply as number[])
        : undefined,
} as const;

export function commandName(spec: Pick<ScriptSpec, 'name'>): string {
  return `lz_v${SCRIPT_VERSION}_${spec.name.replace(/-/g, '_')}`;
}

/**
 * The script's source, as shipped. A line `--#include <module>/<name> as <fn>` is replaced by that
 * script wrapped as `local function <fn>(KEYS, ARGV) … end`: one script runs several others' logic
 * in one round trip (their KEYS and ARGV are the function's own), without a copy of it. An included
 * script may include others (each inside its own function); a script that includes itself, however
 * deep, is refused.
 */
export function scriptSource(spec: Pick<ScriptSpec, 'module' | 'name'>): string {
  const read = (module: string, name: string): string =>
    readFileSync(join(packageRoot(), 'src', module, 'lua', `${name}.lua`), 'utf8');
  const expand = (module: string, name: string, within: readonly string[]): string => {
    const id = `${module}/${name}`;
    if (within.includes(id))
      throw new Error(`Lua script ${id} includes itself (${[...within, id].join(' > ')})`);
    return read(module, name).replace(
      /^--#include ([a-z-]+)\/([a-z-]+) as ([a-z_]+)[ \t]*$/gm,
      (_line, m: string, n: string, fn: string) =>
        `local function ${fn}(KEYS, ARGV)\n${expand(m, n, [...within, id])}\nend`,
    );
  };
  return expand(spec.module, spec.name, []);
}

/** Defines each script on the client (idempotent). */
export function defineScripts(redis: RedisClient, specs: readonly ScriptSpec<string, unknown>[]): void {
  for (const spec of specs) {
    const name = commandName(spec);
    if (typeof (redis as unknown as Record<string, unknown>)[name] === 'function') continue;
    redis.defineCommand(name, { numberOfKeys: spec.keys.length, lua: scriptSource(spec) });
  }
}

/**
 * Calls a defined script with its keys by name, and decodes its reply; a reply the script is not
 * written to give rejects with `LZ_ERR_SCRIPT_REPLY`.
 */
export async function runScript<K extends string, R>(
  redis: RedisClient,
  spec: ScriptSpec<K, R>,
  keys: Readonly<Record<K, string>>,
  args: readonly (string | number)[],
): Promise<R> {
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[
    commandName(spec)
  ];
  if (fn === undefined) throw new Error(`Lua script ${spec.name} is not defined on this client`);
  const ordered = spec.keys.map((name) => {
    const key = keys[name];
    if (typeof key !== 'string') throw new Error(`Lua script ${spec.name}: key ${name} not given`);
    return key;
  });
  // A Redis Cluster runs a script only when all its keys are in one hash slot (keys.ts tags them
  // so); checked on every call, in every mode, so that a key outside the tag fails the tests.
  const slot = ordered.length === 0 ? undefined : calculateSlot(ordered[0] ?? '');
  const stray = ordered.find((key) => calculateSlot(key) !== slot);
  if (stray !== undefined)
    throw new Error(
      `Lua script ${spec.name}: keys ${ordered.join(', ')} are not in one hash slot (${stray})`,
    );
  const reply = await fn.call(redis, ...ordered, ...args);
  let value: R | undefined;
  try {
    value = spec.reply(reply);
  } catch {
    // A decoder that cannot read the reply (a JSON field that is not JSON) refuses it the same way.
    value = undefined;
  }
  if (value === undefined) throw scriptReplyError(spec.name, reply);
  return value;
}

/**
 * `work`, except that a reply its script never gives counts as `refused`: for callers whose safe
 * answer to nonsense is a plain "no" (a lease not renewed is a lease lost). Redis failures pass on.
 */
export async function refusedAs<T>(work: Promise<T>, refused: T): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof LzError && error.code === SCRIPT_REPLY) return refused;
    throw error;
  }
}
