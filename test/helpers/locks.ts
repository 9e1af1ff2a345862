/** Lock results as plain data, for tests that compare them whole. */
import type { LockResult, ResourceLocks } from '../../src/safety/lock.js';

export type PlainLockResult =
  | { readonly acquired: true; readonly token: number; readonly tookOverFrom?: string }
  | { readonly acquired: false; readonly holder: string; readonly token: number };

export function plain(result: LockResult): PlainLockResult {
  if (!result.acquired) return result;
  const { token, tookOverFrom } = result.lock;
  return tookOverFrom === undefined ? { acquired: true, token } : { acquired: true, token, tookOverFrom };
}

/** `locks.acquire`, answering plain data. */
export function plainAcquire(
  locks: ResourceLocks,
): (...args: Parameters<ResourceLocks['acquire']>) => Promise<PlainLockResult> {
  return async (...args) => plain(await locks.acquire(...args));
}
