/**
 * A precondition check. Each check lives in a file of its own and is listed in `registry.ts`:
 * adding a check is one file and one line. What the configuration needs to know of a check (its
 * name, threshold parameter and options) is its `CheckSpec`; `run` is how a node evaluates it.
 *
 * Checks see the world only through `CheckContext`, which the controller builds per evaluation:
 * the hosts of the service from the inventory, and health probes made by this node from its zone.
 */
import type { CheckSpec } from '../config/catalog.js';

export interface CheckHost {
  readonly id: string;
  readonly zone: string;
  readonly state: 'active' | 'out_of_lb' | 'forensics' | 'booting';
  readonly healthUrl: string;
}

export interface HealthProbe {
  readonly status: number | undefined;
  readonly healthy: boolean;
  readonly error?: string;
  readonly from?: string;
}

export interface CheckContext {
  /** The event's service and the host it is about (absent for a resource event). */
  readonly service: string;
  readonly host: string | undefined;
  readonly threshold: unknown;
  readonly options: Readonly<Record<string, unknown>>;
  /** This node's id and zone, for the evidence. */
  readonly node: { readonly id: string; readonly zone: string };
  /** The service's hosts; rejects when the inventory cannot be reached. */
  hosts(): Promise<readonly CheckHost[]>;
  /**
   * This node's health probe of a host, sent from its own zone. By default an answer this node got
   * within the last moment (`probe_cache`, 500 ms by default) may be reused: peer checks of a
   * busy service then cost one probe per host, not one per event. `fresh` always sends a new request,
   * as the check of the host in question must.
   */
  probe(
    host: CheckHost,
    options?: { readonly timeoutMs?: number; readonly fresh?: boolean },
  ): Promise<HealthProbe>;
}

/** A check's verdict and the evidence behind it. */
export interface CheckOutcome {
  readonly pass: boolean;
  /** What was measured: `healthy_others=4`. */
  readonly measured: string;
  /** What it was compared with: `>= 2`. */
  readonly threshold: string;
  /** A sentence for the human who reads the record. */
  readonly detail: string;
}

export interface CheckDefinition extends CheckSpec {
  run(context: CheckContext): Promise<CheckOutcome>;
}

/** Probes hosts concurrently; how many are healthy, and which are not. */
export async function probeAll(
  context: CheckContext,
  hosts: readonly CheckHost[],
): Promise<{ healthy: number; unhealthy: string[] }> {
  const results = await Promise.all(hosts.map(async (h) => ({ id: h.id, probe: await context.probe(h) })));
  const unhealthy = results.filter((r) => !r.probe.healthy).map((r) => r.id);
  return { healthy: results.length - unhealthy.length, unhealthy };
}

/** The service's hosts that are serving (or should be), other than the one the event is about. */
export function activeOthers(hosts: readonly CheckHost[], host: string | undefined): CheckHost[] {
  return hosts.filter((h) => h.id !== host && h.state === 'active');
}
