/** The hosts of a service as the inventory knows them. */
export type HostState = 'active' | 'out_of_lb' | 'forensics' | 'booting';

export interface InventoryHost {
  readonly id: string;
  readonly service: string;
  readonly zone: string;
  readonly state: HostState;
  /** The host's health check: "should this host be in the load balancer?" (2xx: yes). */
  readonly healthUrl: string;
}

export interface InventoryProvider {
  /** Every host of `service` (empty when the inventory does not know it). Rejects when unreachable. */
  hostsOf(service: string): Promise<readonly InventoryHost[]>;
}
