/**
 * Recent health-probe answers of this node, reused for a short time (`probe_cache`, 500 ms by default). During a
 * burst of events for one service every evaluation checks the same peers; without it each event
 * would cost a probe per peer per node. Requests in flight are shared too. The host an event is
 * about is never served from here (`HealthCheckDown` asks for a fresh probe).
 */
import { probeHealth } from './health-probe.js';
import type { ProbeOptions, ProbeResult } from './health-probe.js';

const MAX_ENTRIES = 10_000;

export class ProbeCache {
  private readonly entries = new Map<string, { at: number; result: Promise<ProbeResult> }>();

  constructor(private readonly ttlMs: number) {}

  probe(url: string, options: ProbeOptions, fresh = false): Promise<ProbeResult> {
    if (fresh || this.ttlMs <= 0) return this.remember(url, options);
    const key = `${options.localAddress ?? ''} ${options.timeoutMs} ${url}`;
    const hit = this.entries.get(key);
    if (hit !== undefined && Date.now() - hit.at <= this.ttlMs) return hit.result;
    return this.remember(url, options);
  }

  /** Sends a probe and keeps its answer for the next callers. */
  private remember(url: string, options: ProbeOptions): Promise<ProbeResult> {
    const key = `${options.localAddress ?? ''} ${options.timeoutMs} ${url}`;
    const result = probeHealth(url, options);
    if (this.entries.size >= MAX_ENTRIES) {
      const now = Date.now();
      for (const [k, v] of this.entries) if (now - v.at > this.ttlMs) this.entries.delete(k);
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    }
    this.entries.set(key, { at: Date.now(), result });
    return result;
  }
}
