/**
 * When to try a PagerDuty call again, and how long to wait first. Kept apart from the client so that
 * the arithmetic is tested without a server.
 */

export interface BackoffOptions {
  /** Wait before the second attempt; doubled for each further one. */
  readonly initialMs: number;
  /** Cap of one wait. */
  readonly maxMs: number;
}

/** Statuses worth another attempt: PagerDuty overloaded, failing or throttling this token. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The wait after failed attempt `attempt` (1-based): exponential, with "equal jitter" (half fixed,
 * half random) so that the nodes of a region that all lost PagerDuty at once do not come back in step.
 */
export function backoffMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Milliseconds from a `Retry-After` header (seconds, or an HTTP date), or `undefined` when it is
 * absent or unreadable.
 */
export function retryAfterMs(
  header: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (header === null || header === undefined || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1_000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves after `ms`; rejects with the signal's reason the moment it fires, leaving no timer behind. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** What an aborted call rejects with: the signal's reason when it is an Error, as the stand-in pager does. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
