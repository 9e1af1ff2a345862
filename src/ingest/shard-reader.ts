/**
 * Reads one shard while this node holds its lease: from after the checkpoint (or the oldest record),
 * a batch at a time, with up to two batches in hand (the next is read and handed over while one
 * waits for its slowest event; the handler keeps a host's records in stream order across them). The
 * checkpoint moves past a batch only once the handler has a durable outcome for every record of it
 * and of every batch before it. A batch whose handling fails is retried (the handler is idempotent
 * by event id), so an event is never skipped. A closed shard read to its end is marked done, so
 * that its children may start.
 *
 * A KPL aggregated record is unpacked here into one record per user record (kpl.ts), all in the
 * batch of the GetRecords call that returned it: its user records share its sequence number, and
 * the checkpoint (a Kinesis sequence number) moves past it only once every one of them has its
 * outcome. A takeover reads the whole aggregate again; its user records already decided are
 * "already decided" by their event ids.
 *
 * Written for real Kinesis: at most one GetRecords per `pollMs` per shard (the service allows 5/s),
 * exponential backoff on throttling, a fresh iterator when one expires.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, _Record } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { expand } from './kpl.js';
import type { ShardLeases } from './shard-leases.js';
import type { BatchHandler, StreamRecord } from './stream-record.js';

export interface ShardReaderOptions {
  readonly kinesis: KinesisClient;
  readonly stream: string;
  readonly shardId: string;
  readonly leases: ShardLeases;
  readonly handle: BatchHandler;
  readonly log: Logger;
  /** Minimum time between two GetRecords calls on this shard. */
  readonly pollMs: number;
  /** Records per GetRecords call. @defaultValue 500 */
  readonly limit?: number;
  /** Told how far behind the stream's tip each GetRecords found the shard (MillisBehindLatest). */
  readonly onLag?: (shardId: string, ms: number) => void;
}

export type ReaderEnd = 'stopped' | 'drained' | 'lease_lost';

/**
 * Batches of a shard in hand at once: the next is read and handed over while the one before it
 * still waits for its slowest event; the one after waits for the oldest to be checkpointed.
 */
const MAX_BATCHES_IN_HAND = 2;

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
]);

export class ShardReader {
  private stopping = false;
  /** A batch in hand ended the reading (its lease lost): the others stop retrying, nothing more is read. */
  private ended = false;
  private wake: AbortController = new AbortController();
  /** Records handled since start, for progress logs. */
  handled = 0;
  readonly done: Promise<ReaderEnd>;

  constructor(private readonly o: ShardReaderOptions) {
    this.done = this.run();
  }

  /** Finish the batch in hand, checkpoint it, and stop. */
  stop(): void {
    this.stopping = true;
    this.wake.abort();
  }

  private async nap(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.wake.signal });
    } catch {
      // woken up by stop()
    }
  }

  private async iterator(): Promise<string | undefined> {
    const after = await this.o.leases.checkpointOf(this.o.shardId);
    const out = await this.o.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: this.o.stream,
        ShardId: this.o.shardId,
        ...(after === undefined
          ? { ShardIteratorType: 'TRIM_HORIZON' }
          : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }),
      }),
    );
    this.o.log.info({ shard: this.o.shardId, after: after ?? 'TRIM_HORIZON' }, 'reading shard');
    return out.ShardIterator;
  }

  private async run(): Promise<ReaderEnd> {
    let backoff = 0;
    let iterator: string | undefined;
    // Batches handed over and not checkpointed yet, oldest first. Each one's checkpoint waits for
    // the one before it; a batch ends the reading (its lease lost, the reader stopped) for all.
    const inHand: Promise<ReaderEnd | undefined>[] = [];
    let last: Promise<ReaderEnd | undefined> = Promise.resolve(undefined);
    /** Every batch in hand settled and checkpointed: the first end any of them met, if one did. */
    const settle = async (): Promise<ReaderEnd | undefined> => {
      const ends = await Promise.all(inHand.splice(0));
      return ends.find((e) => e !== undefined);
    };
    while (!this.stopping && !this.ended) {
      const started = Date.now();
      try {
        iterator ??= await this.iterator();
        if (iterator === undefined) return this.finish((await settle()) ?? 'drained');
        const out = await this.o.kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: this.o.limit ?? 500 }),
        );
        backoff = 0;
        if (out.MillisBehindLatest !== undefined) this.o.onLag?.(this.o.shardId, out.MillisBehindLatest);
        const records = (out.Records ?? []).flatMap((r) => expand(this.toRecord(r)));
        // Read while a batch in hand ended the reading: left for the next reader, from the checkpoint.
        if (records.length > 0 && !this.ended) {
          // Handed over now, checkpointed once it and every batch before it are handled: the next
          // GetRecords does not wait for this batch's slowest event (a vote, a retry).
          const handled = this.handleBatch(records);
          const before = last;
          last = Promise.all([before, handled])
            .then(([ended, end]) =>
              ended !== undefined ? ended : end !== undefined ? end : this.checkpoint(records),
            )
            .catch((error: unknown): ReaderEnd => {
              // Neither handling nor the checkpoint throws; if one ever did, nothing after this
              // batch may be checkpointed: the reading ends here, to resume from the checkpoint.
              this.o.log.error({ shard: this.o.shardId, err: error }, 'a batch in hand failed unexpectedly');
              return 'stopped';
            })
            .then((end) => {
              if (end !== undefined) this.ended = true;
              return end;
            });
          inHand.push(last);
          if (inHand.length >= MAX_BATCHES_IN_HAND) {
            const end = await inHand.shift();
            if (end !== undefined) {
              await settle();
              return end;
            }
          }
        }
        iterator = out.NextShardIterator;
        if (iterator === undefined) return this.finish((await settle()) ?? 'drained');
        const wait = this.o.pollMs - (Date.now() - started);
        if (records.length === 0 || wait > 0)
          await this.nap(Math.max(wait, records.length === 0 ? this.o.pollMs : 0));
      } catch (error) {
        const name = (error as Error).name;
        backoff = Math.min(Math.max(backoff * 2, 200), 5000);
        if (name === 'ExpiredIteratorException') {
          backoff = 0;
        } else if (THROTTLED.has(name)) {
          this.o.log.warn({ shard: this.o.shardId, backoffMs: backoff }, 'throttled by Kinesis; backing off');
        } else {
          this.o.log.error(
            { shard: this.o.shardId, err: error, backoffMs: backoff },
            'reading the shard failed; retrying from the checkpoint',
          );
        }
        // Start again from the checkpoint, once the batches in hand have theirs: nothing after it
        // has a durable outcome yet.
        const end = await settle();
        if (end !== undefined) return end;
        iterator = undefined;
        await this.nap(backoff);
      }
    }
    return (await settle()) ?? 'stopped';
  }

  /** Handles a batch until it succeeds; `stopped` when the reader stopped first. */
  private async handleBatch(records: readonly StreamRecord[]): Promise<ReaderEnd | undefined> {
    let delay = 100;
    for (;;) {
      try {
        await this.o.handle(this.o.shardId, records);
        break;
      } catch (error) {
        this.o.log.error(
          { shard: this.o.shardId, err: error, records: records.length, retryInMs: delay },
          'batch could not be handled; retrying it',
        );
        if (this.stopping || this.ended) return 'stopped';
        await this.nap(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
    this.handled += records.length;
    return undefined;
  }

  /** Moves the checkpoint past a batch handled (and every one before it). */
  private async checkpoint(records: readonly StreamRecord[]): Promise<ReaderEnd | undefined> {
    // The last Kinesis record of the batch, whole: every user record of an aggregate is in the batch
    // its Kinesis record came in (expand() runs on one GetRecords answer), and each has an outcome.
    const last = records[records.length - 1]?.sequenceNumber ?? '';
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.o.leases.checkpoint(this.o.shardId, last);
        if (result === 'not_owner') {
          this.o.log.warn({ shard: this.o.shardId }, 'lease lost; another node reads this shard now');
          return 'lease_lost';
        }
        return undefined;
      } catch (error) {
        // Decisions are durable and keyed by event id: re-reading this batch after a crash is harmless.
        if (attempt >= 2 || this.stopping) {
          this.o.log.error(
            { shard: this.o.shardId, err: error },
            'checkpoint could not be written; the batch will be read again',
          );
          return undefined;
        }
        await this.nap(200);
      }
    }
  }

  private async finish(end: ReaderEnd): Promise<ReaderEnd> {
    if (end === 'drained') {
      await this.o.leases.markDone(this.o.shardId);
      this.o.log.info({ shard: this.o.shardId }, 'closed shard drained; its children may be read');
    }
    return end;
  }

  private toRecord(r: _Record): StreamRecord {
    return {
      shardId: this.o.shardId,
      sequenceNumber: r.SequenceNumber ?? '',
      partitionKey: r.PartitionKey ?? '',
      data: r.Data ?? new Uint8Array(),
      arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
    };
  }
}
