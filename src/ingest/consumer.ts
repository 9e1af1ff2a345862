/**
 * The node's share of the stream: every tick (a third of the lease TTL) it heartbeats, renews its
 * leases, and takes or gives up shards so that they spread evenly over the live nodes; it runs a
 * `ShardReader` per shard it holds. Closed shards (after a reshard) are read to their end before
 * their children are taken.
 */
import { ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { planBalance } from './balance.js';
import { ShardReader } from './shard-reader.js';
import type { ShardLeases } from './shard-leases.js';
import type { BatchHandler } from './stream-record.js';

export interface ConsumerOptions {
  readonly kinesis: KinesisClient;
  readonly stream: string;
  readonly leases: ShardLeases;
  readonly handle: BatchHandler;
  readonly log: Logger;
  readonly pollMs: number;
  /** How often the shard list is refreshed. @defaultValue 10 s */
  readonly shardListRefreshMs?: number;
  /** Each reader's lag behind the stream's tip (MillisBehindLatest), after each GetRecords. */
  readonly onLag?: (shardId: string, ms: number) => void;
  /** A reader stopped reading a shard (its lag is another node's to report now). */
  readonly onRelease?: (shardId: string) => void;
}

interface ShardEntry {
  readonly id: string;
  readonly parents: readonly string[];
}

export class Consumer {
  private readonly readers = new Map<string, ShardReader>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private shards: { at: number; list: ShardEntry[] } | undefined;
  private stopped = false;
  /** Live nodes at the last tick (for the cluster view). */
  live: string[] = [];

  constructor(private readonly o: ConsumerOptions) {}

  start(): void {
    const interval = Math.max(100, Math.floor(this.o.leases.ttlMs / 3));
    const tick = (): void => {
      if (this.stopped) return;
      this.ticking = this.tick().catch((error: unknown) =>
        this.o.log.error({ err: error }, 'consumer tick failed'),
      );
      void this.ticking.finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, interval);
      });
    };
    tick();
  }

  /** Shards this node reads now. */
  held(): string[] {
    return [...this.readers.keys()].sort();
  }

  /** Stops taking shards; lets each reader finish and checkpoint its batch; releases the leases. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.ticking;
    const readers = [...this.readers.entries()];
    for (const [, reader] of readers) reader.stop();
    await Promise.all(readers.map(([, r]) => r.done));
    await Promise.all(readers.map(([shard]) => this.o.leases.release(shard).catch(() => false)));
    this.readers.clear();
    await this.o.leases.leave().catch(() => undefined);
  }

  private async tick(): Promise<void> {
    const { leases, log } = this.o;
    this.live = await leases.heartbeat();

    // Renew what we hold; a reader whose lease is gone stops at once (another node may read it now).
    for (const [shard, reader] of this.readers) {
      let ours = false;
      try {
        ours = await leases.renew(shard);
      } catch (error) {
        // Unknown (Redis slow or away): keep reading; the checkpoint script refuses a lost lease.
        log.warn({ shard, err: error }, 'lease renewal failed');
        ours = true;
      }
      if (!ours) {
        log.warn({ shard }, 'lease lost; stopping the reader');
        reader.stop();
        this.readers.delete(shard);
      }
    }

    const shards = await this.shardList();
    const done = await leases.doneShards();
    const present = new Set(shards.map((s) => s.id));
    // A child waits until its parents are drained (or have left the stream with the retention period).
    const eligible = shards
      .filter((s) => !done.has(s.id) && s.parents.every((p) => done.has(p) || !present.has(p)))
      .map((s) => s.id);
    const holders = await leases.holders(eligible);
    for (const shard of this.readers.keys()) holders.set(shard, leases.nodeId);
    const plan = planBalance({ me: leases.nodeId, live: this.live, eligible, holders });

    for (const shard of plan.release) {
      const reader = this.readers.get(shard);
      if (reader === undefined) continue;
      log.info({ shard }, 'giving the shard up to balance the cluster');
      reader.stop();
      this.readers.delete(shard);
      void reader.done.then(() => leases.release(shard)).catch(() => undefined);
    }
    for (const shard of plan.acquire) {
      if (this.stopped || !(await leases.acquire(shard))) continue;
      log.info({ shard, live: this.live }, 'took the shard lease');
      this.startReader(shard);
    }
  }

  private startReader(shard: string): void {
    const reader = new ShardReader({
      kinesis: this.o.kinesis,
      stream: this.o.stream,
      shardId: shard,
      leases: this.o.leases,
      handle: this.o.handle,
      log: this.o.log,
      pollMs: this.o.pollMs,
      ...(this.o.onLag === undefined ? {} : { onLag: this.o.onLag }),
    });
    this.readers.set(shard, reader);
    void reader.done.then(
      (end) => {
        if (this.readers.get(shard) === reader) this.readers.delete(shard);
        this.o.onRelease?.(shard);
        if (end === 'drained') {
          this.shards = undefined; // children may now be eligible: look at the list again
          void this.o.leases.release(shard).catch(() => undefined);
        }
      },
      (error: unknown) => {
        this.o.log.error({ shard, err: error }, 'shard reader failed');
        if (this.readers.get(shard) === reader) this.readers.delete(shard);
        void this.o.leases.release(shard).catch(() => undefined);
      },
    );
  }

  private async shardList(): Promise<ShardEntry[]> {
    const refresh = this.o.shardListRefreshMs ?? 10_000;
    if (this.shards !== undefined && Date.now() - this.shards.at < refresh) return this.shards.list;
    const list: Shard[] = [];
    let token: string | undefined;
    do {
      const out = await this.o.kinesis.send(
        new ListShardsCommand(token === undefined ? { StreamName: this.o.stream } : { NextToken: token }),
      );
      list.push(...(out.Shards ?? []));
      token = out.NextToken;
    } while (token !== undefined);
    const entries = list.map((s) => ({
      id: s.ShardId ?? '',
      parents: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined),
    }));
    this.shards = { at: Date.now(), list: entries };
    return entries;
  }
}
