/**
 * Where a process's CPU went, from a V8 `.cpuprofile` (`node --cpu-prof`): self time by owner
 * (our modules by folder, npm packages by name, Node's internals by subsystem, V8's GC and
 * native code), and the functions with the most self time. Idle samples are left out.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Busy time in the profile, ms (idle left out). */
  readonly busyMs: number;
  /** Self time by owner, ms, largest first. */
  readonly owners: readonly (readonly [string, number])[];
  /** Self time by function (`name owner:line`), ms, largest first. */
  readonly functions: readonly (readonly [string, number])[];
}

/** Who owns a frame: `ours: controller`, `ioredis`, `node: net`, `(garbage collector)`. */
export function ownerOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg !== null) return pkg[1] ?? url;
  const ours = /\/src\/([^/]+)\//.exec(url);
  if (ours !== null && !url.includes('node_modules')) return `ours: ${ours[1] ?? ''}`;
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal !== null) return `node: ${(internal[1] ?? '').replace(/\.js$/, '')}`;
  return url;
}

export async function summarize(path: string): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the sample's own time is the next delta.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] ?? 0;
    const us = profile.timeDeltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + us);
  }
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += us;
    const owner = ownerOf(url, functionName);
    owners.set(owner, (owners.get(owner) ?? 0) + us / 1000);
    const file = url.replace(/^.*\/(node_modules\/)?/, '');
    const fn = `${functionName || '(anonymous)'} ${file === '' ? owner : `${file}:${lineNumber + 1}`}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us / 1000);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { busyMs: busy / 1000, owners: sorted(owners), functions: sorted(functions) };
}
