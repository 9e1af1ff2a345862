/**
 * Every Redis key the cluster uses, in one place (as BullMQ keeps its `QueueKeys`): what is shared
 * between nodes is visible at a glance, and a prefix per region keeps regions (and tests) apart.
 *
 * Every key of a region is in one Redis Cluster hash slot: the prefix is the key's hash tag
 * (`{lz:eu-west-1:}claim:…`). A Lua script (and a MULTI) must find all its keys in one slot, and
 * the scripts that decide (claim, decide, lock take-over, breaker) read keys of several kinds at
 * once, so a tag per resource would not do. A region's load (tens of commands per event) is far
 * below what one primary serves; regions sharing a cluster spread over its slots by their prefixes.
 */
export class RedisKeys {
  /** `{prefix}`: the hash tag every key starts with. */
  readonly tag: string;

  constructor(readonly prefix: string) {
    // `{}` would hash the whole key (Redis hashes the tag only when it is not empty).
    if (prefix === '' || /[{}]/.test(prefix))
      throw new Error(`a Redis key prefix must be non-empty and have no braces: "${prefix}"`);
    this.tag = `{${prefix}}`;
  }

  /** Sorted set: node id → last heartbeat (epoch ms). */
  get members(): string {
    return `${this.tag}members`;
  }
  /** String: `node:token` of the node that holds the shard's lease; expires with the lease TTL. */
  lease(shardId: string): string {
    return `${this.tag}lease:${shardId}`;
  }
  /** String: the last sequence number of the shard whose event has a durable decision. */
  checkpoint(shardId: string): string {
    return `${this.tag}checkpoint:${shardId}`;
  }
  /** Set: shards read to their end (closed after a reshard); their children may be read. */
  get shardsDone(): string {
    return `${this.tag}shards-done`;
  }
  /** String: the node evaluating the event now; expires so that a dead node's events are taken over. */
  claim(eventId: string): string {
    return `${this.tag}claim:${eventId}`;
  }
  /**
   * String (JSON): what the attempt deciding the event has taken so far (its lock, the page's
   * acknowledgement), until the decision is written: the node that takes over after it died
   * finishes the job (takes the lock over or releases it, answers for the page).
   */
  attempt(eventId: string): string {
    return `${this.tag}attempt:${eventId}`;
  }
  /** String (JSON): the event's decision, written once. */
  decision(eventId: string): string {
    return `${this.tag}decision:${eventId}`;
  }
  /** List (JSON): what happened to the event after its decision (page calls, notifications), oldest first. */
  audit(eventId: string): string {
    return `${this.tag}audit:${eventId}`;
  }
  /** Sorted set: event id → decision time, newest last; the index the audit API reads. */
  get decisions(): string {
    return `${this.tag}decisions`;
  }
  /**
   * Hash: the region's PagerDuty request budget (a token bucket: tokens, at, paused_until), shared
   * by the nodes because PagerDuty counts the requests of the controller's user.
   */
  get pagerBudget(): string {
    return `${this.tag}pager-budget`;
  }
  /** String: a note for the page was claimed once for this breaker opening (expires). */
  breakerNote(openedAt: number, incidentKey: string): string {
    return `${this.tag}breaker-note:${openedAt}:${incidentKey}`;
  }
  /** List (JSON): records that were not events, newest first, capped. */
  get rejected(): string {
    return `${this.tag}rejected`;
  }
  /** Sorted set: rejected record id → time (epoch ms), as many as the list keeps: counts a period. */
  get rejectedTimes(): string {
    return `${this.tag}rejected-times`;
  }
  /**
   * String: marks a rejected record as listed, so that a retried batch does not list it twice; a
   * user record of a KPL aggregate (`subSequence`) is one of several with the same sequence number.
   */
  rejectedMarker(shard: string, sequence: string, subSequence?: number, item?: number): string {
    const sub = subSequence === undefined ? '' : `:${subSequence}`;
    return `${this.tag}rejected-seen:${shard}:${sequence}${sub}${item === undefined ? '' : `#${item}`}`;
  }

  /** Sorted set: event id → time, the service's events in the rate-limit window. */
  rateWindow(service: string): string {
    return `${this.tag}rate:${service}`;
  }
  /** Sorted set: service → time of its latest failure event, the region's breaker window. */
  get breakerWindow(): string {
    return `${this.tag}breaker:window`;
  }
  /** String: `open` or `closed`, the breaker's last state (to see changes). */
  get breakerState(): string {
    return `${this.tag}breaker:state`;
  }
  /** List (JSON): the breaker's state changes, newest first, with the services that caused them. */
  get breakerHistory(): string {
    return `${this.tag}breaker:history`;
  }
  /** String: `owner:token` of the remediation holding the lock on a resource (`host:svc/h`, `service:svc`). */
  lock(resource: string): string {
    return `${this.tag}lock:${resource}`;
  }
  /** String (counter): the last fencing token handed out for a resource. */
  lockFence(resource: string): string {
    return `${this.tag}fence:${resource}`;
  }
  /**
   * String (JSON): the latest remediation of a host (or resource) of a service: which event and run,
   * when it started and ended. Kept for the run and `reremediate_after` after its end.
   */
  remediated(service: string, resource: string): string {
    return `${this.tag}remediated:${service}/${resource}`;
  }
  /** String: the id of the first event for (service, resource, type) within the dedup window. */
  dedup(service: string, resource: string, type: string): string {
    return `${this.tag}dedup:${service}:${resource}:${type}`;
  }
  /** Hash: a workflow run (`run` field) and each of its steps (`step:<id>` fields). */
  run(runId: string): string {
    return `${this.tag}run:${runId}`;
  }
  /** Sorted set: unfinished run id → its deadline. */
  get activeRuns(): string {
    return `${this.tag}runs:active`;
  }
  /** String: `node:token` of the node running the run; expires when that node dies. */
  runLease(runId: string): string {
    return `${this.tag}run-lease:${runId}`;
  }
}
