/**
 * How a batch is handled at once without reordering what must stay in order: records about the
 * same host (one partition key) in stream order, different hosts in parallel, also across batches
 * of a shard handled at the same time (KeyOrder); and one handling of an event id at a time in
 * this process.
 */
import type { LimitFunction } from 'p-limit';
import type { StreamRecord } from '../ingest/stream-record.js';

/**
 * Handles every record of a batch, lane by lane; rejects with the first failure once every lane
 * is done (the rest of the batch still gets its outcomes, and the batch is retried).
 */
export async function inLanes<T>(
  records: readonly StreamRecord[],
  limit: LimitFunction,
  handle: (record: StreamRecord) => Promise<T>,
  unhandled: T,
  order: KeyOrder = new KeyOrder(),
): Promise<T[]> {
  const lanes = new Map<string, StreamRecord[]>();
  for (const record of records) {
    // Unparseable records (no partition key) get a lane of their own.
    const key =
      record.partitionKey === '' ? `${record.shardId}/${record.sequenceNumber}` : record.partitionKey;
    const lane = lanes.get(key);
    if (lane === undefined) lanes.set(key, [record]);
    else lane.push(record);
  }
  const results = new Map<StreamRecord, T>();
  const failures: unknown[] = [];
  await Promise.all(
    [...lanes.entries()].map(([key, lane]) =>
      // After the key's lanes of batches handed over before this one; no slot held while waiting.
      order.after(key, () =>
        limit(async () => {
          for (const record of lane) {
            try {
              results.set(record, await handle(record));
            } catch (error) {
              failures.push(error);
            }
          }
        }),
      ),
    ),
  );
  if (failures.length > 0) throw failures[0];
  return records.map((r) => results.get(r) ?? unhandled);
}

/**
 * One handling of a key at a time: a shard read again (its lease lost and taken back) may hand
 * over a record whose first handling is still going, and its claim is this node's too, so the
 * second would go on as if it were the first. Chained at once, so that a third delivery waits for
 * the second, not only for the first.
 */
export class OneAtATime<T> {
  readonly #running = new Map<string, Promise<T>>();

  constructor(private readonly settled: T) {}

  async run(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#running.get(key) ?? Promise.resolve(this.settled);
    const mine = before.catch(() => this.settled).then(work);
    this.#running.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.#running.get(key) === mine) this.#running.delete(key);
    }
  }
}

/**
 * Work in the order it was handed over, per key: a batch of a shard handled while the one before
 * it still is has its records about a host wait for that host's records of the earlier batch.
 * Registered when handed over (synchronously), so the order is the order of the calls. A batch
 * handed over again after a failure (Redis away) queues behind what came since: its events then
 * meet the later ones' claims, fold and lock as any later event would, never a second action.
 */
export class KeyOrder {
  readonly #tails = new Map<string, Promise<void>>();

  after<T>(key: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.#tails.get(key) ?? Promise.resolve()).then(work);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return mine;
  }

  /** Keys with work queued or running (tests). */
  get size(): number {
    return this.#tails.size;
  }
}
