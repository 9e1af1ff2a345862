/**
 * An inventory served over HTTP (the orchestrator's, or the fleet simulator's). Answers are cached
 * for the refresh interval; when the endpoint cannot be reached the call rejects: a check that
 * cannot see the fleet fails rather than guessing.
 */
import { LzError } from '../common/errors.js';
import { InventoryErrorCodes, parseInventory } from './document.js';
import type { InventoryHost, InventoryProvider } from './types.js';
import { hostWithInstance } from './types.js';

export class HttpInventory implements InventoryProvider {
  private cache: { at: number; hosts: Map<string, InventoryHost[]> } | undefined;
  private inflight: Promise<Map<string, InventoryHost[]>> | undefined;

  constructor(
    private readonly url: string,
    private readonly refreshMs: number,
    private readonly timeoutMs = 2000,
  ) {}

  async hostsOf(service: string): Promise<readonly InventoryHost[]> {
    return (await this.all()).get(service) ?? [];
  }

  async findInstance(instanceId: string): Promise<InventoryHost | undefined> {
    return hostWithInstance(await this.all(), instanceId);
  }

  private async all(): Promise<Map<string, InventoryHost[]>> {
    if (this.cache === undefined || Date.now() - this.cache.at > this.refreshMs) {
      // One fetch at a time: many events at once share it rather than each asking the endpoint.
      this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
      const hosts = await this.inflight;
      this.cache = { at: Date.now(), hosts };
    }
    return this.cache.hosts;
  }

  private async fetch(): Promise<Map<string, InventoryHost[]>> {
    let response: Response;
    try {
      response = await fetch(this.url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new LzError(
        InventoryErrorCodes.UNAVAILABLE,
        `inventory ${this.url} unreachable: ${(error as Error).message}`,
        { retryable: true, cause: error },
      );
    }
    if (!response.ok) {
      throw new LzError(
        InventoryErrorCodes.UNAVAILABLE,
        `inventory ${this.url} answered ${response.status}`,
        { retryable: true },
      );
    }
    return parseInventory(await response.json(), this.url);
  }
}
