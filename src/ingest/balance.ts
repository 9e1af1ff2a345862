/**
 * How many shards this node should hold, and which to take or give up: shards spread evenly over
 * the live nodes (each holds the floor or the ceiling of shards/nodes). Pure, so that it is tested
 * on its own; the consumer applies it each tick.
 */

export interface BalanceInput {
  readonly me: string;
  readonly live: readonly string[];
  /** Shards that may be read now (open, or closed but not yet drained, with their parents drained). */
  readonly eligible: readonly string[];
  /** Holder of each eligible shard (`undefined`: free). */
  readonly holders: ReadonlyMap<string, string | undefined>;
}

export interface BalancePlan {
  readonly acquire: readonly string[];
  readonly release: readonly string[];
}

export function planBalance(input: BalanceInput): BalancePlan {
  const live = input.live.includes(input.me) ? input.live : [...input.live, input.me];
  const total = input.eligible.length;
  const floor = Math.floor(total / live.length);
  const ceil = Math.ceil(total / live.length);
  const mine = input.eligible.filter((s) => input.holders.get(s) === input.me);
  // Free, or held by a node that is no longer alive (its lease will expire; SET NX decides who gets it).
  const free = input.eligible.filter((s) => {
    const holder = input.holders.get(s);
    return holder === undefined;
  });
  const counts = new Map(live.map((n) => [n, 0]));
  for (const s of input.eligible) {
    const holder = input.holders.get(s);
    if (holder !== undefined && counts.has(holder)) counts.set(holder, (counts.get(holder) ?? 0) + 1);
  }
  const someoneShort = [...counts.entries()].some(([node, n]) => node !== input.me && n < floor);

  if (mine.length > ceil) return { acquire: [], release: mine.slice(ceil) };
  // Give one up to a node below its fair share; it takes it on its next tick.
  if (mine.length > floor && someoneShort && free.length === 0)
    return { acquire: [], release: mine.slice(floor, floor + 1) };
  let want = Math.max(0, floor - mine.length);
  // The remainder goes to whoever asks first; nobody takes a second extra while another is short.
  if (mine.length + want < ceil && !someoneShort) want += 1;
  return { acquire: free.slice(0, Math.min(want, free.length)), release: [] };
}
