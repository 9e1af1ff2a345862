/**
 * Calls to one peer, each with a deadline. The Evaluate calls asked in the same moment (the events
 * of one batch of a shard reach their votes together) go as one EvaluateBatch call, whose votes come
 * back one by one as each is ready; a single one goes as Evaluate. Each event keeps its own signal:
 * aborted (decided without it, or past its deadline), its vote is no longer waited for. A peer that
 * does not know EvaluateBatch (an older release, during a rolling upgrade) is asked one event at a
 * time from then on.
 */
import * as grpc from '@grpc/grpc-js';
import { peerService } from './proto.js';
import { expectPeer } from './tls.js';
import type { PeerIdentity } from './tls.js';
import type {
  BatchVoteMessage,
  EvaluateBatchRequestMessage,
  EvaluateRequestMessage,
  PingReplyMessage,
  VoteMessage,
} from './proto.js';

/** One event's Evaluate waiting to be sent, then for its vote. */
interface Pending {
  readonly request: EvaluateRequestMessage;
  readonly deadlineMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (vote: VoteMessage) => void;
  readonly reject: (error: Error) => void;
  settled: boolean;
}

/** Events in one EvaluateBatch call at most (a bigger moment goes as several). */
const BATCH_MAX = 64;

/** How long a vote waits for a reconnecting channel: a third of its deadline, at most 1 s. */
function connectWait(deadlineMs: number): number {
  return Math.max(0, Math.min(1000, deadlineMs / 3));
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

type BatchCall = (
  request: EvaluateBatchRequestMessage,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
) => grpc.ClientReadableStream<BatchVoteMessage>;

export class PeerClient {
  private readonly client: grpc.Client;

  /**
   * With `identity`, mutual TLS: this node's certificate is presented, and the peer must present
   * one from the region's CA that names `nodeId` (else every call fails: no vote counts for it).
   */
  constructor(
    readonly nodeId: string,
    readonly address: string,
    identity?: PeerIdentity,
  ) {
    const Peer = peerService();
    this.client = new Peer(
      address,
      identity === undefined ? grpc.credentials.createInsecure() : identity.channelCredentials(nodeId),
      {
        // Reconnect quickly after a peer restarts: a vote that waits on backoff is a vote lost.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2000,
        ...(identity === undefined ? {} : expectPeer(nodeId)),
      },
    );
  }

  /** Evaluate calls asked since the last flush (sent at the end of this turn of the event loop). */
  #queue: Pending[] = [];
  /** The peer answered EvaluateBatch with UNIMPLEMENTED: Evaluate only, from then on. */
  #batchUnsupported = false;

  evaluate(request: EvaluateRequestMessage, deadlineMs: number, signal?: AbortSignal): Promise<VoteMessage> {
    if (this.#batchUnsupported) return this.#one(request, deadlineMs, signal);
    return new Promise<VoteMessage>((resolve, reject) => {
      this.#queue.push({ request, deadlineMs, signal, resolve, reject, settled: false });
      if (this.#queue.length === 1) setImmediate(() => this.#flush());
    });
  }

  #one(request: EvaluateRequestMessage, deadlineMs: number, signal?: AbortSignal): Promise<VoteMessage> {
    return this.#connected(connectWait(deadlineMs)).then(() =>
      this.call<EvaluateRequestMessage, VoteMessage>('Evaluate', request, deadlineMs, signal),
    );
  }

  /**
   * Waits, at most `capMs`, for the channel to the peer to be connected: a channel that backs off
   * after a refused connection (the peer was restarting a moment ago, or not listening yet when
   * this node first pinged it) would fail a vote at once although the peer is up now. A peer that
   * stays unreachable fails the vote after `capMs` (UNAVAILABLE, as before: `no_quorum`, not
   * `timeout`). Never rejects.
   */
  async #connected(capMs: number): Promise<void> {
    try {
      const channel = this.client.getChannel();
      if (channel.getConnectivityState(true) === grpc.connectivityState.READY) return;
      await new Promise<void>((resolve) => this.client.waitForReady(Date.now() + capMs, () => resolve()));
    } catch {
      // A closed client: the call itself says so.
    }
  }

  #flush(): void {
    const asked = this.#queue;
    this.#queue = [];
    void this.#connected(connectWait(Math.min(...asked.map((p) => p.deadlineMs)))).then(() =>
      this.#sendAll(asked),
    );
  }

  #sendAll(asked: Pending[]): void {
    try {
      if (this.#closed) throw new Error('the client to this peer is closed');
      this.#send(asked);
    } catch (error) {
      // A call that cannot even start (the channel is closed): every vote asked fails, none is left waiting.
      for (const p of asked)
        if (!p.settled) {
          p.settled = true;
          p.reject(
            this.#error(grpc.status.UNAVAILABLE, error instanceof Error ? error.message : String(error)),
          );
        }
    }
  }

  #send(asked: Pending[]): void {
    const live = asked.filter((p) => {
      if (p.signal?.aborted !== true) return true;
      p.settled = true;
      p.reject(this.#error(grpc.status.CANCELLED, 'no longer needed before it was sent'));
      return false;
    });
    for (let i = 0; i < live.length; i += BATCH_MAX) {
      const batch = live.slice(i, i + BATCH_MAX);
      if (batch.length === 1 || this.#batchUnsupported) for (const p of batch) this.#sendOne(p);
      else this.#sendBatch(batch);
    }
  }

  #sendOne(p: Pending): void {
    p.settled = true;
    this.#one(p.request, p.deadlineMs, p.signal).then(p.resolve, p.reject);
  }

  #sendBatch(batch: Pending[]): void {
    const fn = (this.client as unknown as Record<string, BatchCall>)['EvaluateBatch'];
    if (fn === undefined) {
      for (const p of batch) p.reject(new Error('peer protocol has no method EvaluateBatch'));
      return;
    }
    const request: EvaluateBatchRequestMessage = { requests: batch.map((p) => p.request) };
    const call = fn.call(this.client, request, new grpc.Metadata(), {
      deadline: Date.now() + Math.max(...batch.map((p) => p.deadlineMs)),
    });
    let open = batch.length;
    const settle = (p: Pending, outcome: () => void): void => {
      if (p.settled) return;
      p.settled = true;
      open -= 1;
      outcome();
    };
    for (const p of batch)
      p.signal?.addEventListener(
        'abort',
        () => {
          settle(p, () => p.reject(this.#error(grpc.status.CANCELLED, 'Cancelled on client')));
          // Nobody waits for any of them: the peer can stop.
          if (open === 0) call.cancel();
        },
        { once: true },
      );
    call.on('data', (m: BatchVoteMessage) => {
      const p = batch[m.index];
      if (p === undefined) return;
      const vote = m.vote;
      if (vote !== undefined && vote !== null) settle(p, () => p.resolve(vote));
      else
        settle(p, () =>
          p.reject(
            this.#error(
              m.invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
              m.error || 'no vote',
            ),
          ),
        );
    });
    call.on('error', (error: grpc.ServiceError) => {
      if (error.code === grpc.status.UNIMPLEMENTED) {
        // An older peer: each event again, alone (none of them was evaluated).
        this.#batchUnsupported = true;
        for (const p of batch)
          if (!p.settled) {
            p.settled = true;
            open -= 1;
            this.#one(p.request, p.deadlineMs, p.signal).then(p.resolve, p.reject);
          }
        return;
      }
      for (const p of batch) settle(p, () => p.reject(this.#error(error.code, error.details)));
    });
    call.on('end', () => {
      for (const p of batch)
        settle(p, () => p.reject(this.#error(grpc.status.INTERNAL, 'no answer for this event in the batch')));
    });
  }

  #error(code: grpc.status, details: string): Error {
    return new Error(`${this.nodeId} (${this.address}): ${grpc.status[code]}: ${details}`);
  }

  ping(from: string, deadlineMs: number): Promise<PingReplyMessage> {
    return this.call('Ping', { from }, deadlineMs);
  }

  close(): void {
    this.#closed = true;
    this.client.close();
  }

  /** Closed: every vote asked, now or still queued, fails (none is sent). */
  #closed = false;

  private call<Req, Res>(
    method: string,
    request: Req,
    deadlineMs: number,
    signal?: AbortSignal,
  ): Promise<Res> {
    const fn = (this.client as unknown as Record<string, Unary<Req, Res>>)[method];
    if (fn === undefined) return Promise.reject(new Error(`peer protocol has no method ${method}`));
    return new Promise<Res>((resolve, reject) => {
      const call = fn.call(
        this.client,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error, response) => {
          if (error !== null)
            reject(
              new Error(`${this.nodeId} (${this.address}): ${grpc.status[error.code]}: ${error.details}`),
            );
          else if (response === undefined) reject(new Error(`${this.nodeId}: empty answer`));
          else resolve(response);
        },
      );
      signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }
}
