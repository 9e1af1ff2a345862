/**
 * A resource lock as it is written down (in an attempt record, a decision, a workflow run): which
 * resource, whose, and its fencing token. The one declaration of that shape; the live lock with
 * its `release` and `renew` is `HeldLock` in `safety/lock.ts`.
 */
export interface LockRef {
  /** `host:<service>/<host>` or `service:<service>`. */
  readonly resource: string;
  /** Who holds it: for a remediation, `event:<event id>@<node>`. */
  readonly owner: string;
  /** The fencing token: strictly increasing across acquisitions of the resource. */
  readonly token: number;
}

/** Just the three fields (a record carries no more than this of a lock). */
export function lockRef(lock: LockRef): LockRef {
  return { resource: lock.resource, owner: lock.owner, token: lock.token };
}
