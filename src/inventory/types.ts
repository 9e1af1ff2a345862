/** The hosts of a service as the inventory knows them. */
export type HostState = 'active' | 'out_of_lb' | 'forensics' | 'booting';

export interface InventoryHost {
  readonly id: string;
  readonly service: string;
  readonly zone: string;
  readonly state: HostState;
  /** The host's health check: "should this host be in the load balancer?" (2xx: yes). */
  readonly healthUrl: string;
  /** The EC2 instance the host is (`i-…`), when it is one: how AWS events find their host. */
  readonly instanceId?: string;
}

export interface InventoryProvider {
  /** Every host of `service` (empty when the inventory does not know it). Rejects when unreachable. */
  hostsOf(service: string): Promise<readonly InventoryHost[]>;
  /** The host whose `instance_id` is `instanceId`, if any. Rejects when unreachable. */
  findInstance(instanceId: string): Promise<InventoryHost | undefined>;
}

/** `findInstance` over a document's hosts. */
export function hostWithInstance(
  hosts: ReadonlyMap<string, readonly InventoryHost[]>,
  instanceId: string,
): InventoryHost | undefined {
  for (const list of hosts.values()) {
    const found = list.find((h) => h.instanceId === instanceId);
    if (found !== undefined) return found;
  }
  return undefined;
}
