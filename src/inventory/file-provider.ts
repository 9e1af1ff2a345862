/** An inventory read from a YAML file, re-read when it is older than the refresh interval. */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { LzError } from '../common/errors.js';
import { InventoryErrorCodes, parseInventory } from './document.js';
import type { InventoryHost, InventoryProvider } from './types.js';
import { hostWithInstance } from './types.js';

export class FileInventory implements InventoryProvider {
  private cache: { at: number; hosts: Map<string, InventoryHost[]> } | undefined;

  constructor(
    private readonly path: string,
    private readonly refreshMs: number,
  ) {}

  async hostsOf(service: string): Promise<readonly InventoryHost[]> {
    return (await this.all()).get(service) ?? [];
  }

  async findInstance(instanceId: string): Promise<InventoryHost | undefined> {
    return hostWithInstance(await this.all(), instanceId);
  }

  private async all(): Promise<Map<string, InventoryHost[]>> {
    if (this.cache === undefined || Date.now() - this.cache.at > this.refreshMs) {
      let text: string;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (error) {
        throw new LzError(
          InventoryErrorCodes.UNAVAILABLE,
          `inventory file ${this.path}: ${(error as Error).message}`,
          { retryable: true, cause: error },
        );
      }
      this.cache = { at: Date.now(), hosts: parseInventory(YAML.parse(text), this.path) };
    }
    return this.cache.hosts;
  }
}
