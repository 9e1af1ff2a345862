/**
 * Recent health-probe answers of this node, reused for a short time (`probe_cache`, 500 ms by default). During a
 * burst of events for one service every evaluation checks the same peers; without it each event
 * would cost a probe per peer per node. Requests in flight are shared too.
 *
 * The host an event is about is probed afresh (`HealthCheckDown` asks for a fresh probe), and
 * afresh is per batch: a fresh probe may answer another fresh probe of the same host only if it
 * started after the caller's `after` (the evaluator passes when its evaluation began, or when its
 * previous attempt answered) and at most {@link FRESH_SHARE_MS} ago: the evaluations of one moment
 * (a peer's EvaluateBatch starts them together) share one probe, never an answer from before they
 * were asked.
 */
import { probeHealth } from './health-probe.js';
import type { ProbeOptions, ProbeResult } from './health-probe.js';

const MAX_ENTRIES = 10_000;

/** How long after its start a probe still counts as fresh for another event's fresh probe. */
export const FRESH_SHARE_MS = 100;

export class ProbeCache {
  private readonly entries = new Map<string, { at: number; result: Promise<ProbeResult> }>();

  constructor(
    private readonly ttlMs: number,
    private readonly freshShareMs = FRESH_SHARE_MS,
    /**
     * A monotonic clock, in ms: a wall clock stepped back would make an old probe look fresh, and
     * share one probe between two attempts of a check. @defaultValue performance.now
     */
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * A probe of `url`: one started at most `probe_cache` ago (`fresh`: `freshShareMs` ago) and after
   * `after` (on this cache's clock, `now`), or a new one.
   */
  probe(url: string, options: ProbeOptions, fresh = false, after = -Infinity): Promise<ProbeResult> {
    const key = `${options.localAddress ?? ''} ${options.timeoutMs} ${url}`;
    const hit = this.entries.get(key);
    const now = this.now();
    // `probe_cache: 0` turns reuse off altogether; the share window never exceeds it either.
    const maxAge = this.ttlMs <= 0 ? 0 : fresh ? Math.min(this.freshShareMs, this.ttlMs) : this.ttlMs;
    if (maxAge > 0 && hit !== undefined && now - hit.at >= 0 && now - hit.at <= maxAge && hit.at > after)
      return hit.result;
    return this.remember(key, url, options, now);
  }

  /** Sends a probe and keeps its answer for the next callers. */
  private remember(key: string, url: string, options: ProbeOptions, now: number): Promise<ProbeResult> {
    const result = probeHealth(url, options);
    if (this.entries.size >= MAX_ENTRIES) {
      const keep = Math.max(this.ttlMs, this.freshShareMs);
      for (const [k, v] of this.entries) if (now - v.at > keep) this.entries.delete(k);
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    }
    this.entries.set(key, { at: now, result });
    return result;
  }
}
